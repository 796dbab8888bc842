package streams

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// StoreDef declares a state store of a Topology: its name (the changelog is
// kafka.Changelog(prefix, group, name)), its value codec and its backend.
type StoreDef[V any] struct {
	name    string
	codec   Codec[V]
	factory StoreFactory[V]
	idx     int
	owner   *Topology
}

// NewStore declares a store of V values, in memory unless WithBackend says
// otherwise.
func NewStore[V any](name string, codec Codec[V]) *StoreDef[V] {
	return &StoreDef[V]{name: name, codec: codec, factory: Memory[V](), idx: -1}
}

// WithBackend sets the factory of the store's committed state.
func (d *StoreDef[V]) WithBackend(f StoreFactory[V]) *StoreDef[V] {
	d.factory = f
	return d
}

// Name is the store's name.
func (d *StoreDef[V]) Name() string { return d.name }

// Of returns the store of t's partition, as seen by the open transaction.
func (d *StoreDef[V]) Of(t *Task) *StoreView[V] {
	return t.stores[d.idx].(*StoreView[V])
}

func (d *StoreDef[V]) storeName() string { return d.name }

func (d *StoreDef[V]) bind(topo *Topology, idx int) error {
	if d.owner != nil && d.owner != topo {
		return fmt.Errorf("store %q already belongs to another topology", d.name)
	}
	if err := d.codec.validate(); err != nil {
		return fmt.Errorf("store %q: %w", d.name, err)
	}
	if d.factory == nil {
		return fmt.Errorf("store %q: no backend", d.name)
	}
	d.owner, d.idx = topo, idx
	return nil
}

func (d *StoreDef[V]) open(partition int32, changelog string, fail func(error)) (taskStore, error) {
	b, err := d.factory(d.name, partition)
	if err != nil {
		return nil, &StoreError{Store: d.name, Partition: partition, Op: "open", Err: err}
	}
	v := &StoreView[V]{name: d.name, changelog: changelog, partition: partition, codec: d.codec,
		backend: b, pending: map[string]pendingValue[V]{}, epoch: 1, fail: fail}
	v.produced.Store(-1)
	v.promiseFn = v.promise
	return v, nil
}

type storeDef interface {
	storeName() string
	bind(topo *Topology, idx int) error
	open(partition int32, changelog string, fail func(error)) (taskStore, error)
}

// taskStore is what a Task needs of a store, whatever its value type.
type taskStore interface {
	storeName() string
	changelogTopic() string
	endUnit(ok bool)
	dirty() int
	flush(produce func(r *kgo.Record, promise func(*kgo.Record, error))) (int, error)
	commit() error
	abort()
	restore(r *kgo.Record) error
	nextOffset() int64
	setNextOffset(int64)
	close() error
}

type pendingValue[V any] struct {
	v     V
	del   bool
	epoch uint32 // the flush epoch in which the key was queued for flushing
}

type undoEntry[V any] struct {
	key  string
	had  bool
	prev pendingValue[V]
}

// StoreView is a task's store as its open transaction sees it: reads see
// the transaction's own writes; writes stay in the view until the
// transaction commits (then they reach the Store and, in the same Kafka
// transaction, the changelog) or aborts (then they are dropped).
type StoreView[V any] struct {
	name      string
	changelog string
	partition int32
	codec     Codec[V]
	backend   Store[V]
	pending   map[string]pendingValue[V]
	toFlush   []string // keys changed since the last flush
	epoch     uint32   // flushes so far (starts at 1)
	undo      []undoEntry[V]
	fail      func(error)
	promiseFn func(*kgo.Record, error)
	next      int64        // changelog offset the committed state reflects up to (exclusive)
	produced  atomic.Int64 // highest changelog offset produced in the open transaction
}

// Get returns key's value and whether it exists.
func (s *StoreView[V]) Get(key string) (V, bool, error) {
	if p, ok := s.pending[key]; ok {
		if p.del {
			var zero V
			return zero, false, nil
		}
		return cloneValue(p.v), true, nil
	}
	v, ok, err := s.backend.Get(key)
	if err != nil {
		return v, false, &StoreError{Store: s.name, Partition: s.partition, Op: "get", Err: err}
	}
	if ok {
		v = cloneValue(v)
	}
	return v, ok, nil
}

// Put sets key to v.
func (s *StoreView[V]) Put(key string, v V) { s.set(key, pendingValue[V]{v: v}) }

// Delete removes key (a tombstone in the changelog).
func (s *StoreView[V]) Delete(key string) { s.set(key, pendingValue[V]{del: true}) }

// set records the change for the transaction, for the unit's undo and for
// the next flush — with one lookup and one assignment.
func (s *StoreView[V]) set(key string, nv pendingValue[V]) {
	prev, had := s.pending[key]
	s.undo = append(s.undo, undoEntry[V]{key: key, had: had, prev: prev})
	if !had || prev.epoch != s.epoch {
		s.toFlush = append(s.toFlush, key)
	}
	nv.epoch = s.epoch
	s.pending[key] = nv
}

// Update reads key (the zero V and found=false when absent), lets fn
// change it, and stores the result unless fn returns an error.
func (s *StoreView[V]) Update(key string, fn func(v *V, found bool) error) error {
	v, found, err := s.Get(key)
	if err != nil {
		return err
	}
	if err := fn(&v, found); err != nil {
		return err
	}
	s.Put(key, v)
	return nil
}

// Range calls fn for every entry the transaction sees, in no particular
// order, until fn returns false. fn must not change the store; collect keys
// and change them after Range returns.
func (s *StoreView[V]) Range(fn func(key string, v V) bool) error {
	stopped := false
	err := s.backend.Range(func(k string, v V) bool {
		if _, shadowed := s.pending[k]; shadowed {
			return true
		}
		if !fn(k, cloneValue(v)) {
			stopped = true
			return false
		}
		return true
	})
	if err != nil {
		return &StoreError{Store: s.name, Partition: s.partition, Op: "range", Err: err}
	}
	if stopped {
		return nil
	}
	for k, p := range s.pending {
		if !p.del && !fn(k, cloneValue(p.v)) {
			return nil
		}
	}
	return nil
}

func (s *StoreView[V]) storeName() string      { return s.name }
func (s *StoreView[V]) changelogTopic() string { return s.changelog }
func (s *StoreView[V]) dirty() int             { return len(s.pending) }
func (s *StoreView[V]) nextOffset() int64      { return s.next }
func (s *StoreView[V]) setNextOffset(o int64)  { s.next = o }

func (s *StoreView[V]) endUnit(ok bool) {
	if !ok {
		for i := len(s.undo) - 1; i >= 0; i-- {
			u := s.undo[i]
			if u.had {
				s.pending[u.key] = u.prev
			} else {
				delete(s.pending, u.key)
			}
		}
	}
	clear(s.undo)
	s.undo = s.undo[:0]
}

// flush produces one changelog record, to the task's partition, per key
// changed since the last flush. The runtime flushes after every poll's
// records, so hot keys are coalesced and the changelog streams out while
// the transaction is still open instead of in one burst at commit. The
// records of one flush share one allocation, and their keys and values are
// carved from a few shared chunks (three allocations per record showed in
// profiles); kgo never writes to a record's bytes.
func (s *StoreView[V]) flush(produce func(*kgo.Record, func(*kgo.Record, error))) (int, error) {
	recs := make([]kgo.Record, len(s.toFlush))
	var chunk []byte
	n := 0
	for _, k := range s.toFlush {
		p, ok := s.pending[k]
		if !ok || p.epoch != s.epoch {
			continue // changed by a unit that was undone: its earlier value was flushed, or is committed
		}
		if cap(chunk)-len(chunk) < len(k)+flushValueHint {
			chunk = make([]byte, 0, max(flushChunk, len(k)+flushValueHint))
		}
		chunk = append(chunk, k...)
		r := &recs[n]
		r.Topic, r.Partition, r.Key = s.changelog, s.partition, chunk[len(chunk)-len(k):len(chunk):len(chunk)]
		if !p.del {
			start := len(chunk)
			b, err := s.codec.appendValue(chunk, p.v)
			if err != nil {
				return n, fmt.Errorf("store %s: encode %q: %w", s.name, k, err)
			}
			r.Value = b[start:len(b):len(b)]
			if cap(b) == cap(chunk) {
				chunk = b // the value fit: the chunk goes on after it
			} else {
				chunk = nil // append moved it to a larger array of its own; start a new chunk next time
			}
		}
		produce(r, s.promiseFn)
		n++
	}
	clear(s.toFlush)
	s.toFlush = s.toFlush[:0]
	s.epoch++
	return n, nil
}

// flushChunk is the size of the byte chunks a flush carves keys and values
// from; flushValueHint the room a value is expected to need.
const (
	flushChunk     = 32 << 10
	flushValueHint = 256
)

func (s *StoreView[V]) promise(r *kgo.Record, err error) {
	if err != nil {
		s.fail(fmt.Errorf("changelog %s partition %d: %w", s.changelog, s.partition, err))
		return
	}
	for {
		cur := s.produced.Load()
		if r.Offset <= cur || s.produced.CompareAndSwap(cur, r.Offset) {
			return
		}
	}
}

// commit applies the committed transaction's writes to the backend.
func (s *StoreView[V]) commit() error {
	var errs []error
	for k, p := range s.pending {
		var err error
		if p.del {
			err = s.backend.Delete(k)
		} else {
			err = s.backend.Set(k, p.v)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	clear(s.pending)
	clear(s.toFlush)
	s.toFlush = s.toFlush[:0]
	clear(s.undo)
	s.undo = s.undo[:0]
	if o := s.produced.Load(); o >= 0 {
		s.next = o + 1
	}
	s.produced.Store(-1)
	if len(errs) > 0 {
		return &StoreError{Store: s.name, Partition: s.partition, Op: "commit", Err: errors.Join(errs...)}
	}
	return nil
}

func (s *StoreView[V]) abort() {
	clear(s.pending)
	clear(s.toFlush)
	s.toFlush = s.toFlush[:0]
	clear(s.undo)
	s.undo = s.undo[:0]
	s.produced.Store(-1)
}

// restore applies one changelog record to the committed state.
func (s *StoreView[V]) restore(r *kgo.Record) error {
	k := string(r.Key)
	if r.Value == nil {
		if err := s.backend.Delete(k); err != nil {
			return &StoreError{Store: s.name, Partition: s.partition, Op: "restore", Err: err}
		}
		return nil
	}
	v, err := s.codec.decodeValue(r.Value)
	if err != nil {
		return fmt.Errorf("store %s: changelog %s/%d offset %d: %w", s.name, r.Topic, r.Partition, r.Offset, err)
	}
	if err := s.backend.Set(k, v); err != nil {
		return &StoreError{Store: s.name, Partition: s.partition, Op: "restore", Err: err}
	}
	return nil
}

func (s *StoreView[V]) close() error { return s.backend.Close() }
