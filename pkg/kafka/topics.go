package kafka

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// Co-partitioning groups: every topic of a group has the same partition count,
// so partition p of each lands on the same processor task.
const (
	ByOrder   = "orderId"
	ByProduct = "productId"
)

// Names are the topic names, a public contract; only the prefix varies.
type Names struct {
	OrderRequests     string // orders.requests.v1: key scope‖idempotency key, partitioned by orderId, compacted
	OrderCommands     string // orders.commands.v1: key orderId (cancel)
	OrderEvents       string // orders.events.v1: key orderId, the public event stream
	OrderState        string // orders.state.v1: key orderId, compacted latest order
	InventoryCommands string // inventory.commands.v1: key productId
	InventoryResults  string // inventory.results.v1: key orderId
	InventoryStock    string // inventory.stock.v1: key productId, compacted snapshot
	CatalogProducts   string // catalog.products.v1: key productId, compacted
}

// TopicNames returns the names under prefix.
func TopicNames(prefix string) Names {
	return Names{
		OrderRequests:     prefix + "orders.requests.v1",
		OrderCommands:     prefix + "orders.commands.v1",
		OrderEvents:       prefix + "orders.events.v1",
		OrderState:        prefix + "orders.state.v1",
		InventoryCommands: prefix + "inventory.commands.v1",
		InventoryResults:  prefix + "inventory.results.v1",
		InventoryStock:    prefix + "inventory.stock.v1",
		CatalogProducts:   prefix + "catalog.products.v1",
	}
}

// All lists every contract topic name.
func (n Names) All() []string {
	return []string{n.OrderRequests, n.OrderCommands, n.OrderEvents, n.OrderState,
		n.InventoryCommands, n.InventoryResults, n.InventoryStock, n.CatalogProducts}
}

// DLQ names the dead-letter topic of topic: "orders.requests.v1" → "orders.requests.dlq.v1".
func DLQ(topic string) string {
	return strings.TrimSuffix(topic, ".v1") + ".dlq.v1"
}

// Changelog names a processor state store's changelog topic.
func Changelog(prefix, group, store string) string {
	return prefix + group + "-" + store + "-changelog"
}

// Topic is the declared shape of one topic.
type Topic struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	CoPartition       string // ByOrder, ByProduct or "" (free)
	Configs           map[string]string
}

// SpecOptions tune the declarative topic spec.
type SpecOptions struct {
	// IdempotencyWindow bounds min.compaction.lag.ms of orders.requests.v1:
	// a request record stays readable at least this long. Default 7 days.
	IdempotencyWindow time.Duration
	// EventsRetention is orders.events.v1's retention; negative means infinite.
	// Default 30 days.
	EventsRetention time.Duration
	// DLQPartitions is the partition count of every dead-letter topic. Default 3.
	DLQPartitions int
}

func (o *SpecOptions) defaults() {
	if o.IdempotencyWindow == 0 {
		o.IdempotencyWindow = 7 * 24 * time.Hour
	}
	if o.EventsRetention == 0 {
		o.EventsRetention = 30 * 24 * time.Hour
	}
	if o.DLQPartitions == 0 {
		o.DLQPartitions = 3
	}
}

func ms(d time.Duration) string {
	if d < 0 {
		return "-1"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// Spec is the declarative spec of every topic orderpipe owns.
func Spec(cfg config.Kafka, opts SpecOptions) []Topic {
	opts.defaults()
	n := TopicNames(cfg.TopicPrefix)
	minISR := strconv.Itoa(cfg.MinInsyncReplicas)
	topic := func(name string, group string, cfgs map[string]string) Topic {
		parts := cfg.OrderPartitions
		if group == ByProduct {
			parts = cfg.ProductPartitions
		}
		cfgs["min.insync.replicas"] = minISR
		return Topic{Name: name, Partitions: parts, ReplicationFactor: cfg.ReplicationFactor, CoPartition: group, Configs: cfgs}
	}
	compact := func() map[string]string { return map[string]string{"cleanup.policy": "compact"} }
	deleteAfter := func(d time.Duration) map[string]string {
		return map[string]string{"cleanup.policy": "delete", "retention.ms": ms(d)}
	}
	requests := compact()
	requests["min.compaction.lag.ms"] = ms(opts.IdempotencyWindow)
	week := 7 * 24 * time.Hour
	topics := []Topic{
		topic(n.OrderRequests, ByOrder, requests),
		topic(n.OrderCommands, ByOrder, deleteAfter(week)),
		topic(n.OrderEvents, ByOrder, deleteAfter(opts.EventsRetention)),
		topic(n.OrderState, ByOrder, compact()),
		topic(n.InventoryResults, ByOrder, deleteAfter(week)),
		topic(n.InventoryCommands, ByProduct, deleteAfter(week)),
		topic(n.InventoryStock, ByProduct, compact()),
		topic(n.CatalogProducts, ByProduct, compact()),
	}
	for _, name := range n.All() {
		t := topic(DLQ(name), "", deleteAfter(2*week))
		t.Partitions = opts.DLQPartitions
		topics = append(topics, t)
	}
	return topics
}

// ChangelogSpec is the spec of a state store's changelog: compacted, and
// co-partitioned with the processor's inputs.
func ChangelogSpec(cfg config.Kafka, name, group string) Topic {
	parts := cfg.OrderPartitions
	if group == ByProduct {
		parts = cfg.ProductPartitions
	}
	return Topic{
		Name: name, Partitions: parts, ReplicationFactor: cfg.ReplicationFactor, CoPartition: group,
		Configs: map[string]string{"cleanup.policy": "compact", "min.insync.replicas": strconv.Itoa(cfg.MinInsyncReplicas)},
	}
}

// checkSpec refuses a spec whose co-partitioned topics disagree.
func checkSpec(topics []Topic) error {
	want := map[string]Topic{}
	var problems []string
	for _, t := range topics {
		if t.Partitions < 1 {
			problems = append(problems, fmt.Sprintf("%s: %d partitions", t.Name, t.Partitions))
		}
		if t.CoPartition == "" {
			continue
		}
		if first, ok := want[t.CoPartition]; ok && first.Partitions != t.Partitions {
			problems = append(problems, fmt.Sprintf("%s (%d partitions) and %s (%d partitions) are co-partitioned by %s and must agree",
				first.Name, first.Partitions, t.Name, t.Partitions, t.CoPartition))
		} else if !ok {
			want[t.CoPartition] = t
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("topic spec refused: %s", strings.Join(problems, "; "))
	}
	return nil
}
