package streams

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
)

// TestDriver runs a Topology in memory, without Kafka, for unit tests of
// handlers and punctuators (and runnable examples). It has the runtime's
// transaction semantics: Send and Punctuate work inside an open
// transaction; Commit makes its outputs visible and applies its store
// changes, writing them to an in-memory changelog; Abort drops both;
// Restart rebuilds every task from the changelogs and tables, as a new
// owner of the partitions would.
type TestDriver struct {
	topo       *Topology
	env        *taskEnv
	partitions int
	tasks      map[int32]*Task
	now        time.Time

	offsets   map[tp]int64
	pending   []*kgo.Record            // outputs of the open transaction
	outputs   map[string][]*kgo.Record // committed outputs by topic
	changelog map[tp][]*kgo.Record     // committed changelog records
	pendingCL map[tp][]*kgo.Record
	tableLog  map[tp][]*kgo.Record
	failed    error
}

// NewTestDriver returns a driver with partitions tasks (at least 1). Its
// clock starts at 2026-01-01 UTC and moves only with Advance.
func NewTestDriver(topo *Topology, partitions int) (*TestDriver, error) {
	if err := topo.Err(); err != nil {
		return nil, err
	}
	if partitions < 1 {
		partitions = 1
	}
	d := &TestDriver{
		topo: topo, partitions: partitions, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		offsets: map[tp]int64{}, outputs: map[string][]*kgo.Record{},
		changelog: map[tp][]*kgo.Record{}, pendingCL: map[tp][]*kgo.Record{}, tableLog: map[tp][]*kgo.Record{},
	}
	d.env = &taskEnv{
		group:   topo.group,
		logger:  slog.New(slog.DiscardHandler),
		clock:   func() time.Time { return d.now },
		onDLQ:   func(t *Task, _ *kgo.Record, _ string) { t.stats.dlq++ },
		promise: func(*kgo.Record, error) {},
	}
	d.env.produce = func(r *kgo.Record) { d.pending = append(d.pending, r) }
	return d, d.Restart()
}

// Now is the driver's clock.
func (d *TestDriver) Now() time.Time { return d.now }

// Advance moves the clock.
func (d *TestDriver) Advance(by time.Duration) { d.now = d.now.Add(by) }

func (d *TestDriver) changelogName(store string) string {
	return kafka.Changelog("", d.topo.group, store)
}

// Send delivers r to its task: partition = murmur2(key) mod partitions, the
// offset the next of that partition. An input record runs its handler in
// the open transaction; a table record updates the table.
func (d *TestDriver) Send(r *kgo.Record) error {
	p := int32(0)
	if d.partitions > 1 {
		p = kafka.PartitionFor(r.Key, d.partitions)
	}
	k := tp{r.Topic, p}
	r.Partition, r.Offset = p, d.offsets[k]
	d.offsets[k]++
	if r.Timestamp.IsZero() {
		r.Timestamp = d.now
	}
	t := d.tasks[p]
	for _, in := range d.topo.inputs {
		if in.topic == r.Topic {
			return t.handle(in.h, r, d.now)
		}
	}
	for i, tb := range d.topo.tables {
		if tb.tableTopic() == r.Topic {
			d.tableLog[k] = append(d.tableLog[k], r)
			if err := t.tables[i].apply(r); err != nil {
				if isStoreError(err) {
					return err
				}
				d.env.produce(dlqRecord(r, d.topo.group, ReasonOf(err), err, d.now))
			}
			return nil
		}
	}
	return fmt.Errorf("topic %s is neither an input nor a table of %s", r.Topic, d.topo.group)
}

// Punctuate runs every punctuator once for every task, at the driver's clock.
func (d *TestDriver) Punctuate() error {
	for _, pu := range d.topo.punctuators {
		for p := int32(0); p < int32(d.partitions); p++ {
			if err := d.tasks[p].punctuate(pu.fn, d.now); err != nil {
				return err
			}
		}
	}
	return nil
}

// Commit commits the open transaction.
func (d *TestDriver) Commit() error {
	for p := int32(0); p < int32(d.partitions); p++ {
		if err := d.tasks[p].flush(d.produceChangelog, true); err != nil {
			d.Abort()
			return err
		}
	}
	if d.failed != nil {
		err := d.failed
		d.Abort()
		return err
	}
	for _, r := range d.pending {
		d.outputs[r.Topic] = append(d.outputs[r.Topic], r)
	}
	d.pending = nil
	for k, rs := range d.pendingCL {
		d.changelog[k] = append(d.changelog[k], rs...)
	}
	clear(d.pendingCL)
	var errs []error
	for p := int32(0); p < int32(d.partitions); p++ {
		errs = append(errs, d.tasks[p].commit())
	}
	return errors.Join(errs...)
}

func (d *TestDriver) produceChangelog(r *kgo.Record, promise func(*kgo.Record, error)) {
	k := tp{r.Topic, r.Partition}
	r.Offset = d.offsets[k]
	d.offsets[k]++
	d.pendingCL[k] = append(d.pendingCL[k], r)
	promise(r, nil)
}

// Abort drops the open transaction: its outputs and its store changes.
func (d *TestDriver) Abort() {
	d.pending, d.failed = nil, nil
	for k := range d.pendingCL {
		d.offsets[k]++ // the abort marker takes an offset
	}
	clear(d.pendingCL)
	for _, t := range d.tasks {
		t.abort()
	}
}

// Restart drops every task (aborting the open transaction) and restores
// new ones from the committed changelogs and the tables, as a new owner.
func (d *TestDriver) Restart() error {
	if d.tasks != nil {
		d.Abort()
		for _, t := range d.tasks {
			t.close()
		}
	}
	d.tasks = map[int32]*Task{}
	for p := int32(0); p < int32(d.partitions); p++ {
		t := newTask(d.env, p)
		for _, sd := range d.topo.stores {
			st, err := sd.open(p, d.changelogName(sd.storeName()), func(err error) { d.failed = err })
			if err != nil {
				return err
			}
			for _, r := range d.changelog[tp{st.changelogTopic(), p}] {
				if err := st.restore(r); err != nil {
					return err
				}
			}
			t.stores = append(t.stores, st)
		}
		for _, td := range d.topo.tables {
			tb, err := td.open(p)
			if err != nil {
				return err
			}
			for _, r := range d.tableLog[tp{td.tableTopic(), p}] {
				_ = tb.apply(r)
			}
			t.tables = append(t.tables, tb)
		}
		d.tasks[p] = t
	}
	return nil
}

// Outputs returns the committed records of topic, in produce order.
func (d *TestDriver) Outputs(topic string) []*kgo.Record { return d.outputs[topic] }

// Changelog returns the committed changelog records of store, all
// partitions, in produce order per partition.
func (d *TestDriver) Changelog(store string) []*kgo.Record {
	name := d.changelogName(store)
	var out []*kgo.Record
	for p := int32(0); p < int32(d.partitions); p++ {
		out = append(out, d.changelog[tp{name, p}]...)
	}
	return out
}

// Task returns the task of partition p, to read its stores in a test
// (through StoreDef.Of) between calls.
func (d *TestDriver) Task(p int32) *Task { return d.tasks[p] }

// TaskFor returns the task that owns key.
func (d *TestDriver) TaskFor(key []byte) *Task {
	if d.partitions == 1 {
		return d.tasks[0]
	}
	return d.tasks[kafka.PartitionFor(key, d.partitions)]
}

// Replay appends records (key, value, Partition) to store's committed
// changelog, as an earlier owner wrote them, and restarts, so the tasks
// restore from them.
func (d *TestDriver) Replay(store string, records []*kgo.Record) error {
	name := d.changelogName(store)
	for _, r := range records {
		k := tp{name, r.Partition}
		cp := *r
		cp.Topic, cp.Offset = name, d.offsets[k]
		d.offsets[k]++
		d.changelog[k] = append(d.changelog[k], &cp)
	}
	return d.Restart()
}
