package processor_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/orders/processor"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// TestPoisonCommandsAndResultsGoToTheDLQ: undecodable and invalid records
// on orders.commands.v1 and inventory.results.v1 — on the very partition of
// a live order — and on catalog.products.v1 (the inventory-processor's
// price table, on the ordered product's partition) go to their topic's DLQ
// with the reason, and the order behind them is still placed, reserved and
// confirmed: a bad record never blocks its partition.
func TestPoisonCommandsAndResultsGoToTheDLQ(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.seed(map[string]int64{"mug": 500}, map[string]int64{"mug": 10})
	r.runInventory()
	r.runSaga(processor.DefaultConfig())

	good := order{scope: "poison-test", key: "k1", customer: "alice", lines: []schemas.Line{{ProductID: "mug", Quantity: 1}}}
	id := []byte(good.id())
	poison := []*kgo.Record{
		{Topic: r.names.OrderCommands, Key: id, Value: []byte(`{not json`)},
		{Topic: r.names.OrderCommands, Key: id, Value: []byte(`{"type":"explode","orderId":"` + good.id() + `"}`)},
		{Topic: r.names.OrderCommands, Key: id, Value: []byte(`{"type":"cancel","orderId":"` + schemas.OrderID("x", "y") + `"}`)}, // key and orderId disagree
		{Topic: r.names.InventoryResults, Key: id, Value: []byte(`[]`)},
		{Topic: r.names.InventoryResults, Key: id, Value: []byte(`{"type":"reserved","orderId":"` + good.id() + `","lineNo":1}`)}, // no unitPrice
		{Topic: r.names.InventoryResults, Key: id, Value: []byte("\xff\xfe")},
	}
	// A poison product on the mug's partition of catalog.products.v1 (a
	// table the inventory-processor reads to its end before any command).
	ghost := "ghost"
	for i := 0; kafka.PartitionFor([]byte(ghost), r.env.Config.ProductPartitions) != kafka.PartitionFor([]byte("mug"), r.env.Config.ProductPartitions); i++ {
		ghost = "ghost-" + strconv.Itoa(i)
	}
	r.produce(poison...)
	r.produce(good.record(r))
	evs := events(t, r.read(r.names.OrderEvents, 90*time.Second, func(got []*kgo.Record) bool { return len(events(t, got)[good.id()]) >= 2 }))
	if ev := terminal(t, good.id(), evs[good.id()]); ev.Type != schemas.TypeOrderConfirmed {
		t.Fatalf("the order behind the poison: %+v; want OrderConfirmed", ev)
	}
	// Now that the inventory-processor is live (its table restored), the
	// table poison, then another order for the mug. (A poison record met
	// while a task restores its table is skipped with a warning, not
	// dead-lettered: docs/security.md.)
	r.produce(&kgo.Record{Topic: r.names.CatalogProducts, Key: []byte(ghost), Value: []byte(`{"price":`)})
	second := order{scope: "poison-test", key: "k2", customer: "alice", lines: []schemas.Line{{ProductID: "mug", Quantity: 1}}}
	r.produce(second.record(r))
	evs = events(t, r.read(r.names.OrderEvents, 90*time.Second, func(got []*kgo.Record) bool { return len(events(t, got)[second.id()]) >= 2 }))
	if ev := terminal(t, second.id(), evs[second.id()]); ev.Type != schemas.TypeOrderConfirmed {
		t.Fatalf("the order after the table poison: %+v; want OrderConfirmed", ev)
	}
	for topic, want := range map[string][]string{
		r.names.OrderCommands:    {streams.ReasonDecode, streams.ReasonInvalid, streams.ReasonInvalid},
		r.names.InventoryResults: {streams.ReasonDecode, streams.ReasonInvalid, streams.ReasonDecode},
		r.names.CatalogProducts:  {streams.ReasonDecode},
	} {
		dlq := r.read(kafka.DLQ(topic), 60*time.Second, func(got []*kgo.Record) bool { return len(got) >= len(want) })
		if len(dlq) != len(want) {
			t.Fatalf("%s: %d DLQ records, want %d", kafka.DLQ(topic), len(dlq), len(want))
		}
		for i, d := range dlq {
			key := good.id()
			if topic == r.names.CatalogProducts {
				key = ghost
			}
			if got := kafka.Header(d, streams.HeaderDLQReason); got != want[i] || string(d.Key) != key ||
				kafka.Header(d, streams.HeaderDLQTopic) != topic || kafka.Header(d, streams.HeaderDLQError) == "" {
				t.Errorf("%s[%d]: reason %q key %q topic %q error %q; want reason %q for %s", kafka.DLQ(topic), i, got, d.Key,
					kafka.Header(d, streams.HeaderDLQTopic), kafka.Header(d, streams.HeaderDLQError), want[i], key)
			}
		}
	}
}
