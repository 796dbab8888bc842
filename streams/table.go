package streams

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TableDef declares a table input: a compacted topic, co-partitioned with
// the processor's inputs, read as key → latest value. When a task is
// assigned, its table partition is read from the start to its end before
// the task processes any record; afterwards updates arrive with the inputs
// and are applied before the input records of the same poll. A tombstone
// deletes the key; a value that cannot be decoded goes to the table's DLQ.
type TableDef[V any] struct {
	topic   string
	decode  func(key, value []byte) (V, error)
	factory StoreFactory[V]
	idx     int
	owner   *Topology
}

// NewTable declares a table on topic, decoding values with decode.
func NewTable[V any](topic string, decode func(key, value []byte) (V, error)) *TableDef[V] {
	return &TableDef[V]{topic: topic, decode: decode, factory: Memory[V](), idx: -1}
}

// WithBackend sets the factory of the table's state.
func (d *TableDef[V]) WithBackend(f StoreFactory[V]) *TableDef[V] {
	d.factory = f
	return d
}

// Topic is the table's topic.
func (d *TableDef[V]) Topic() string { return d.topic }

// Of returns the table of t's partition.
func (d *TableDef[V]) Of(t *Task) *TableView[V] {
	return t.tables[d.idx].(*TableView[V])
}

func (d *TableDef[V]) tableTopic() string { return d.topic }

func (d *TableDef[V]) bind(topo *Topology, idx int) error {
	if d.owner != nil && d.owner != topo {
		return fmt.Errorf("table %q already belongs to another topology", d.topic)
	}
	if d.decode == nil || d.factory == nil {
		return fmt.Errorf("table %q needs a decoder and a backend", d.topic)
	}
	d.owner, d.idx = topo, idx
	return nil
}

func (d *TableDef[V]) open(partition int32) (taskTable, error) {
	b, err := d.factory(d.topic, partition)
	if err != nil {
		return nil, &StoreError{Store: d.topic, Partition: partition, Op: "open", Err: err}
	}
	return &TableView[V]{topic: d.topic, partition: partition, decode: d.decode, backend: b}, nil
}

type tableDef interface {
	tableTopic() string
	bind(topo *Topology, idx int) error
	open(partition int32) (taskTable, error)
}

type taskTable interface {
	tableTopic() string
	apply(r *kgo.Record) error
	nextOffset() int64
	setNextOffset(int64)
	close() error
}

// TableView is a task's partition of a table (read-only for handlers).
type TableView[V any] struct {
	topic     string
	partition int32
	decode    func(key, value []byte) (V, error)
	backend   Store[V]
	next      int64 // offsets below next are applied
}

// Get returns key's latest value and whether it exists.
func (t *TableView[V]) Get(key string) (V, bool, error) {
	v, ok, err := t.backend.Get(key)
	if err != nil {
		return v, false, &StoreError{Store: t.topic, Partition: t.partition, Op: "get", Err: err}
	}
	if ok {
		v = cloneValue(v)
	}
	return v, ok, nil
}

// Len is the number of keys.
func (t *TableView[V]) Len() int { return t.backend.Len() }

func (t *TableView[V]) tableTopic() string    { return t.topic }
func (t *TableView[V]) nextOffset() int64     { return t.next }
func (t *TableView[V]) setNextOffset(o int64) { t.next = o }
func (t *TableView[V]) close() error          { return t.backend.Close() }

// apply applies one table record. Records below next were applied already
// (by the restore, or before an aborted transaction) and are skipped, so a
// re-read never moves the table back in time. A decode error is returned
// as a poison error after the offset is accounted for.
func (t *TableView[V]) apply(r *kgo.Record) error {
	if r.Offset < t.next {
		return nil
	}
	t.next = r.Offset + 1
	if r.Attrs.IsControl() {
		return nil
	}
	k := string(r.Key)
	if r.Value == nil {
		if err := t.backend.Delete(k); err != nil {
			return &StoreError{Store: t.topic, Partition: t.partition, Op: "delete", Err: err}
		}
		return nil
	}
	v, err := t.decode(r.Key, r.Value)
	if err != nil {
		return Poison(ReasonDecode, err)
	}
	if err := t.backend.Set(k, v); err != nil {
		return &StoreError{Store: t.topic, Partition: t.partition, Op: "set", Err: err}
	}
	return nil
}
