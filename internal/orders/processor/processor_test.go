package processor_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/orders/processor"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// TestSagaOnKafka runs the saga with the real inventory-processor on real
// Kafka: an order that fits is confirmed with its prices and total and its
// lines committed; orders that don't fit are rejected and every reservation
// they took is released; a retry is dropped; a reused key with another body
// is recorded on the requests' DLQ and never becomes a second order; a
// cancel that arrives before its order is held and applied; a cancel after
// confirmation changes nothing; every record the saga writes matches the
// contract.
func TestSagaOnKafka(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.seed(map[string]int64{"beans": 1850, "grinder": 12999, "mug": 500},
		map[string]int64{"beans": 10, "grinder": 2, "mug": 1000})
	r.runInventory()
	r.runSaga(processor.DefaultConfig())

	fits := order{scope: "alice", key: "k1", customer: "alice", lines: []schemas.Line{{ProductID: "beans", Quantity: 2}, {ProductID: "grinder", Quantity: 1}, {ProductID: "beans", Quantity: 1}}}
	tooMany := order{scope: "bob", key: "k1", customer: "bob", lines: []schemas.Line{{ProductID: "mug", Quantity: 3}, {ProductID: "grinder", Quantity: 5}}}
	unknown := order{scope: "carol", key: "k1", customer: "carol", lines: []schemas.Line{{ProductID: "mug", Quantity: 7}, {ProductID: "nothing", Quantity: 1}}}
	cancelled := order{scope: "dave", key: "k1", customer: "dave", lines: []schemas.Line{{ProductID: "mug", Quantity: 1}}}
	conflict := fits
	conflict.lines = []schemas.Line{{ProductID: "mug", Quantity: 1}}
	bad := order{scope: "eve", key: "k1", customer: "eve", lines: []schemas.Line{{ProductID: "mug", Quantity: 1}}}
	badRec := bad.record(r)
	var req schemas.OrderRequest
	_ = json.Unmarshal(badRec.Value, &req)
	req.OrderID = schemas.OrderID("eve", "k2") // not the key's id
	badRec.Value = jsonValue(t, req)

	r.produce(r.cancel(cancelled.id(), "c-early")) // before its order: wait until the saga holds it
	held := kafka.Changelog(r.env.Config.TopicPrefix, processor.Group, processor.StoreHeld)
	if got := r.read(held, time.Minute, func(rs []*kgo.Record) bool { return len(rs) > 0 }); len(got) != 1 || string(got[0].Key) != cancelled.id() {
		t.Fatalf("held cancels: %d records", len(got))
	}
	r.produce(fits.record(r), tooMany.record(r), unknown.record(r), fits.record(r), cancelled.record(r), badRec)
	r.produce(conflict.record(r), fits.record(r))

	ids := []string{fits.id(), tooMany.id(), unknown.id(), cancelled.id()}
	evs := events(t, r.read(r.names.OrderEvents, 90*time.Second, func(got []*kgo.Record) bool {
		m := events(t, got)
		for _, id := range ids {
			if len(m[id]) < 2 {
				return false
			}
		}
		return true
	}))
	if ev := terminal(t, fits.id(), evs[fits.id()]); ev.Type != schemas.TypeOrderConfirmed || ev.Total == nil ||
		ev.Total.Amount != 3*1850+12999 || len(ev.PricedLines) != 3 {
		t.Fatalf("fitting order: %+v", ev)
	}
	r.produce(r.cancel(fits.id(), "c-late")) // after confirmation: nothing happens
	if ev := terminal(t, tooMany.id(), evs[tooMany.id()]); ev.Type != schemas.TypeOrderRejected || ev.Reason != schemas.ReasonInsufficientStock ||
		len(ev.RejectedLines) != 1 || ev.RejectedLines[0].LineNo != 2 {
		t.Fatalf("too many: %+v", ev)
	}
	if ev := terminal(t, unknown.id(), evs[unknown.id()]); ev.Type != schemas.TypeOrderRejected || ev.Reason != schemas.ReasonUnknownProduct {
		t.Fatalf("unknown product: %+v", ev)
	}
	if ev := terminal(t, cancelled.id(), evs[cancelled.id()]); ev.Type != schemas.TypeOrderCancelled {
		t.Fatalf("held cancel: %+v", ev)
	}

	// Every reservation of a rejected order is released; the confirmed one's
	// lines are sold.
	want := map[string]schemas.StockSnapshot{
		"beans":   {OnHand: 7, Reserved: 0, Available: 7},
		"grinder": {OnHand: 1, Reserved: 0, Available: 1},
		"mug":     {OnHand: 1000, Reserved: 0, Available: 1000},
	}
	got := r.stock(func(m map[string]schemas.StockSnapshot) bool {
		for id, w := range want {
			if s := m[id]; s.OnHand != w.OnHand || s.Reserved != w.Reserved || s.Available != w.Available {
				return false
			}
		}
		return true
	})
	for id, w := range want {
		if s := got[id]; s.OnHand != w.OnHand || s.Reserved != w.Reserved {
			t.Errorf("%s: on hand %d reserved %d, want %d and %d", id, s.OnHand, s.Reserved, w.OnHand, w.Reserved)
		}
	}

	// Nothing more: the duplicates, the conflict and the late cancel made no
	// event; the conflict and the bad request are on the requests' DLQ.
	all := r.settle(r.names.OrderEvents, 2*time.Second, 30*time.Second)
	evs = events(t, all)
	for _, id := range ids {
		terminal(t, id, evs[id])
	}
	if len(evs) != len(ids) {
		t.Fatalf("%d orders have events, want %d", len(evs), len(ids))
	}
	dlq := r.settle(kafka.DLQ(r.names.OrderRequests), time.Second, 30*time.Second)
	reasons := map[string]int{}
	for _, rec := range dlq {
		reasons[kafka.Header(rec, streams.HeaderDLQReason)]++
	}
	if len(dlq) != 2 || reasons[processor.ReasonConflict] != 1 || reasons[streams.ReasonInvalid] != 1 {
		t.Fatalf("requests DLQ: %v, want one conflict and one invalid", reasons)
	}

	// The saga's records match the contract; the state topic ends at each
	// order's outcome.
	v, err := schemas.NewValidator(schemas.Strict())
	if err != nil {
		t.Fatal(err)
	}
	states := r.settle(r.names.OrderState, time.Second, 30*time.Second)
	r.validateAll(v, all)
	r.validateAll(v, states)
	var sagaCmds []*kgo.Record
	for _, rec := range r.settle(r.names.InventoryCommands, time.Second, 30*time.Second) {
		if kafka.Header(rec, kafka.HeaderSource) == processor.Source {
			sagaCmds = append(sagaCmds, rec)
		}
	}
	if len(sagaCmds) != 3+3+2+2+2+2 { // reserves, then commits or releases, per line; none for the held cancel
		t.Errorf("%d inventory commands from the saga, want 14", len(sagaCmds))
		for _, rec := range sagaCmds {
			t.Logf("p%d@%d %s", rec.Partition, rec.Offset, rec.Value)
		}
	}
	r.validateAll(v, sagaCmds)
	last := map[string]schemas.OrderState{}
	for _, rec := range states {
		var s schemas.OrderState
		if err := json.Unmarshal(rec.Value, &s); err != nil {
			t.Fatal(err)
		}
		last[s.OrderID] = s
	}
	for id, evs := range evs {
		if s := last[id]; s.Version != 2 || s.Status != mustStatus(t, evs[1].Type) {
			t.Errorf("order %s: last state %s v%d, want %s v2", id, s.Status, s.Version, evs[1].Type)
		}
	}
}

func mustStatus(t *testing.T, eventType string) string {
	s, ok := schemas.StatusOfEvent(eventType)
	if !ok {
		t.Fatalf("unknown event type %s", eventType)
	}
	return s
}

// TestTimeoutCancelAndRestart runs the saga with no inventory-processor:
// a cancelled pending order ends at once with a Release per line; another
// order stays pending through a restart of the saga (its state comes back
// from the changelog) and is rejected with reason timeout when its deadline
// passes. When inventory starts later, it reserves and then releases every
// line (each Release follows its Reserve in the product's partition), so
// no stock stays reserved.
func TestTimeoutCancelAndRestart(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.seed(map[string]int64{"beans": 1850, "mug": 500}, map[string]int64{"beans": 10, "mug": 10})
	cfg := processor.DefaultConfig()
	cfg.Timeout = 4 * time.Second
	stop := r.runSaga(cfg)

	slow := order{scope: "alice", key: "slow", customer: "alice", lines: []schemas.Line{{ProductID: "beans", Quantity: 2}, {ProductID: "mug", Quantity: 1}}}
	cancelled := order{scope: "bob", key: "cancel", customer: "bob", lines: []schemas.Line{{ProductID: "beans", Quantity: 3}}}
	r.produce(slow.record(r), cancelled.record(r))
	placed := func(got []*kgo.Record) bool {
		m := events(t, got)
		return len(m[slow.id()]) >= 1 && len(m[cancelled.id()]) >= 1
	}
	r.read(r.names.OrderEvents, 60*time.Second, placed)
	r.produce(r.cancel(cancelled.id(), "c1"))
	stop()
	start := time.Now()
	r.runSaga(cfg) // a new processor: pending sagas restored from the changelog

	evs := events(t, r.read(r.names.OrderEvents, 60*time.Second, func(got []*kgo.Record) bool {
		m := events(t, got)
		return len(m[slow.id()]) >= 2 && len(m[cancelled.id()]) >= 2
	}))
	if ev := terminal(t, cancelled.id(), evs[cancelled.id()]); ev.Type != schemas.TypeOrderCancelled || ev.Reason != "test" {
		t.Fatalf("cancelled: %+v", ev)
	}
	ev := terminal(t, slow.id(), evs[slow.id()])
	if ev.Type != schemas.TypeOrderRejected || ev.Reason != schemas.ReasonTimeout || len(ev.RejectedLines) != 2 {
		t.Fatalf("slow: %+v", ev)
	}
	if placedAt := evs[slow.id()][0].OccurredAt; ev.OccurredAt.Sub(placedAt) < cfg.Timeout {
		t.Fatalf("timed out %s after placing, before the %s timeout", ev.OccurredAt.Sub(placedAt), cfg.Timeout)
	}
	t.Logf("timed out %s after the restart", time.Since(start).Round(time.Millisecond))

	r.runInventory()
	got := r.stock(func(m map[string]schemas.StockSnapshot) bool {
		return m["beans"].Version >= 3 && m["mug"].Version >= 3 && m["beans"].Reserved == 0 && m["mug"].Reserved == 0
	})
	for _, id := range []string{"beans", "mug"} {
		if s := got[id]; s.Reserved != 0 || s.OnHand != 10 || s.Version < 3 {
			t.Errorf("%s: %+v, want every reservation released (version ≥ 3: set, reserved, released)", id, s)
		}
	}
}
