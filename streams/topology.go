package streams

import (
	"errors"
	"fmt"
	"time"

	"github.com/orderpipe/orderpipe/pkg/kafka"
)

// Topology is what a processor reads, keeps and runs: its input topics and
// their handlers, its table inputs, its state stores and its punctuators.
// Every topic of a Topology must have the same partition count (they are
// co-partitioned): task p owns partition p of each, and the stores'
// changelogs get that many partitions too.
//
//	topo := streams.NewTopology("inventory-processor", kafka.ByProduct).
//		Input(names.InventoryCommands, h.Command).
//		Table(products).
//		Store(stock).Store(lines).
//		Every(time.Minute, h.Expire)
type Topology struct {
	group       string
	coPartition string
	inputs      []input
	tables      []tableDef
	stores      []storeDef
	punctuators []punctuation
	errs        []error
}

type input struct {
	topic string
	h     Handler
}

type punctuation struct {
	every time.Duration
	fn    Punctuator
}

// NewTopology starts a topology for the processor named group (the consumer
// group is TOPIC_PREFIX+group; changelogs are kafka.Changelog(prefix, group,
// store)). coPartition is kafka.ByOrder or kafka.ByProduct: which partition
// count the changelogs follow when they are created.
func NewTopology(group, coPartition string) *Topology {
	t := &Topology{group: group, coPartition: coPartition}
	if group == "" {
		t.errs = append(t.errs, errors.New("topology needs a group name"))
	}
	if coPartition != kafka.ByOrder && coPartition != kafka.ByProduct {
		t.errs = append(t.errs, fmt.Errorf("topology %s: co-partitioning %q: want kafka.ByOrder or kafka.ByProduct", group, coPartition))
	}
	return t
}

// Input adds an input topic whose records h handles.
func (t *Topology) Input(topic string, h Handler) *Topology {
	if topic == "" || h == nil {
		t.errs = append(t.errs, fmt.Errorf("input %q needs a topic and a handler", topic))
		return t
	}
	for _, in := range t.inputs {
		if in.topic == topic {
			t.errs = append(t.errs, fmt.Errorf("input %q added twice", topic))
			return t
		}
	}
	t.inputs = append(t.inputs, input{topic, h})
	return t
}

// TableSpec is a *TableDef of any value type.
type TableSpec interface{ tableDef }

// Table adds a table input (see TableDef).
func (t *Topology) Table(d TableSpec) *Topology {
	if err := d.bind(t, len(t.tables)); err != nil {
		t.errs = append(t.errs, err)
		return t
	}
	t.tables = append(t.tables, d)
	return t
}

// StoreSpec is a *StoreDef of any value type.
type StoreSpec interface{ storeDef }

// Store adds a state store (see StoreDef).
func (t *Topology) Store(d StoreSpec) *Topology {
	for _, s := range t.stores {
		if s.storeName() == d.storeName() {
			t.errs = append(t.errs, fmt.Errorf("store %q added twice", d.storeName()))
			return t
		}
	}
	if err := d.bind(t, len(t.stores)); err != nil {
		t.errs = append(t.errs, err)
		return t
	}
	t.stores = append(t.stores, d)
	return t
}

// Every runs fn for every task about every d, inside the open transaction.
func (t *Topology) Every(d time.Duration, fn Punctuator) *Topology {
	if d <= 0 || fn == nil {
		t.errs = append(t.errs, fmt.Errorf("punctuator needs a positive interval and a function"))
		return t
	}
	t.punctuators = append(t.punctuators, punctuation{d, fn})
	return t
}

// Group is the processor's name.
func (t *Topology) Group() string { return t.group }

// Err reports every problem in the topology at once.
func (t *Topology) Err() error {
	errs := append([]error(nil), t.errs...)
	if len(t.inputs) == 0 {
		errs = append(errs, fmt.Errorf("topology %s has no input", t.group))
	}
	seen := map[string]bool{}
	for _, in := range t.inputs {
		seen[in.topic] = true
	}
	for _, tb := range t.tables {
		if seen[tb.tableTopic()] {
			errs = append(errs, fmt.Errorf("topic %s is both an input and a table", tb.tableTopic()))
		}
		seen[tb.tableTopic()] = true
	}
	return errors.Join(errs...)
}

// topics lists the consumed topics: inputs, then tables.
func (t *Topology) topics() []string {
	out := make([]string, 0, len(t.inputs)+len(t.tables))
	for _, in := range t.inputs {
		out = append(out, in.topic)
	}
	for _, tb := range t.tables {
		out = append(out, tb.tableTopic())
	}
	return out
}
