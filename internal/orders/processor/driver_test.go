package processor_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/orders/processor"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// memRig runs the saga on the streams TestDriver (one partition, no Kafka).
type memRig struct {
	tb    testing.TB
	names kafka.Names
	d     *streams.TestDriver
}

func newMemRig(tb testing.TB, cfg processor.Config) *memRig {
	names := kafka.TopicNames("")
	d, err := streams.NewTestDriver(processor.New(names, cfg).Topology(), 1)
	if err != nil {
		tb.Fatal(err)
	}
	return &memRig{tb: tb, names: names, d: d}
}

func (m *memRig) request(scope, key string, lines []schemas.Line) (string, *kgo.Record) {
	id := schemas.OrderID(scope, key)
	sum := sha256.Sum256([]byte(key))
	v, _ := json.Marshal(schemas.OrderRequest{OrderID: id, Scope: scope, IdempotencyKey: key, BodyHash: hex.EncodeToString(sum[:]),
		CustomerID: scope, Currency: "USD", ReceivedAt: m.d.Now(), Lines: lines,
		ShippingAddress: schemas.Address{AddressLine1: "1 Main St", City: "Springfield", Country: "US"}})
	return id, &kgo.Record{Topic: m.names.OrderRequests, Key: schemas.RequestKey(scope, key), Value: v}
}

func (m *memRig) result(orderID string, lineNo int, l schemas.Line, price int64) *kgo.Record {
	v, _ := json.Marshal(schemas.InventoryResult{Type: schemas.ResultReserved, OrderID: orderID, LineNo: lineNo, ProductID: l.ProductID,
		Quantity: l.Quantity, UnitPrice: &schemas.Money{Amount: price, Currency: "USD"}, At: m.d.Now()})
	return &kgo.Record{Topic: m.names.InventoryResults, Key: []byte(orderID), Value: v}
}

func (m *memRig) send(rs ...*kgo.Record) {
	m.tb.Helper()
	for _, r := range rs {
		if err := m.d.Send(r); err != nil {
			m.tb.Fatal(err)
		}
	}
}

func (m *memRig) commit() {
	m.tb.Helper()
	if err := m.d.Commit(); err != nil {
		m.tb.Fatal(err)
	}
}

func (m *memRig) eventTypes() map[string][]string {
	out := map[string][]string{}
	for _, r := range m.d.Outputs(m.names.OrderEvents) {
		out[string(r.Key)] = append(out[string(r.Key)], kafka.Header(r, kafka.HeaderType))
	}
	return out
}

// TestAbortedWorkIsRedone: a transaction that placed an order and answered
// a line is aborted; the same inputs again place the order once; after a
// restart (a new owner restoring from the changelogs) the saga still has
// the order and its answers, and confirms it exactly once.
func TestAbortedWorkIsRedone(t *testing.T) {
	m := newMemRig(t, processor.DefaultConfig())
	lines := []schemas.Line{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 2}}
	id, req := m.request("s", "k", lines)
	m.send(req, m.result(id, 1, lines[0], 100))
	m.d.Abort()
	if n := len(m.eventTypes()); n != 0 {
		t.Fatalf("an aborted transaction's events are visible: %d", n)
	}
	_, req = m.request("s", "k", lines)
	m.send(req, m.result(id, 1, lines[0], 100))
	m.commit()
	if err := m.d.Restart(); err != nil {
		t.Fatal(err)
	}
	_, req = m.request("s", "k", lines) // a retry after the restart: a duplicate
	m.send(req, m.result(id, 1, lines[0], 100), m.result(id, 2, lines[1], 250))
	m.commit()
	got := m.eventTypes()[id]
	if len(got) != 2 || got[0] != schemas.TypeOrderPlaced || got[1] != schemas.TypeOrderConfirmed {
		t.Fatalf("events %v, want placed then confirmed", got)
	}
	var ev schemas.OrderEvent
	_ = json.Unmarshal(m.d.Outputs(m.names.OrderEvents)[1].Value, &ev)
	if ev.Total == nil || ev.Total.Amount != 100+2*250 {
		t.Fatalf("total %+v", ev.Total)
	}
	if n := len(m.d.Outputs(m.names.InventoryCommands)); n != 4 {
		t.Fatalf("%d inventory commands, want 2 reserves + 2 commits", n)
	}
}

// TestExpiry: the dedupe entry and a held cancel are forgotten after the
// window; a pending saga keeps its entry.
func TestExpiry(t *testing.T) {
	cfg := processor.DefaultConfig()
	cfg.Window = time.Hour
	cfg.Timeout = 2 * time.Hour // longer than the window only for this test's pending order
	m := newMemRig(t, cfg)
	lines := []schemas.Line{{ProductID: "a", Quantity: 1}}
	done, req := m.request("s", "done", lines)
	pending, req2 := m.request("s", "pending", lines)
	m.send(req, req2, m.result(done, 1, lines[0], 5))
	cancel, _ := json.Marshal(schemas.OrderCommand{Type: schemas.CommandCancel, OrderID: schemas.OrderID("s", "later"), CommandID: "c", RequestedAt: m.d.Now()})
	m.send(&kgo.Record{Topic: m.names.OrderCommands, Key: []byte(schemas.OrderID("s", "later")), Value: cancel})
	m.commit()
	count := func(store string) map[string]bool {
		live := map[string]bool{}
		for _, r := range m.d.Changelog(store) {
			live[string(r.Key)] = r.Value != nil
		}
		for k, v := range live {
			if !v {
				delete(live, k)
			}
		}
		return live
	}
	if o, h := count(processor.StoreOrders), count(processor.StoreHeld); len(o) != 2 || len(h) != 1 {
		t.Fatalf("before the window: %d dedupe entries, %d held cancels", len(o), len(h))
	}
	m.d.Advance(time.Hour + time.Second)
	if err := m.d.Punctuate(); err != nil {
		t.Fatal(err)
	}
	m.commit()
	o, h := count(processor.StoreOrders), count(processor.StoreHeld)
	if len(o) != 1 || !o[pending] || len(h) != 0 {
		t.Fatalf("after the window: dedupe %v, held %v; want only the pending order's entry", o, h)
	}
}

// BenchmarkSagaOrder is the saga's own cost per order, without Kafka: a
// request and three reserved answers, each step committed (the runtime's
// changelog writes and latest-state build included).
func BenchmarkSagaOrder(b *testing.B) {
	m := newMemRig(b, processor.DefaultConfig())
	lines := []schemas.Line{{ProductID: "p-1", Quantity: 1}, {ProductID: "p-2", Quantity: 2}, {ProductID: "p-3", Quantity: 1}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, req := m.request("cust", "key-"+strconv.Itoa(i), lines)
		m.send(req)
		m.commit()
		m.send(m.result(id, 1, lines[0], 100), m.result(id, 2, lines[1], 200), m.result(id, 3, lines[2], 300))
		m.commit()
	}
}

// TestOutputsCarryTheTraceAndStableIDs: every record a request causes
// continues the request's trace (traceparent) and has an id derived from
// what it is about.
func TestOutputsCarryTheTraceAndStableIDs(t *testing.T) {
	m := newMemRig(t, processor.DefaultConfig())
	lines := []schemas.Line{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 2}}
	id, req := m.request("s", "k", lines)
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req.Headers = append(req.Headers, kgo.RecordHeader{Key: "traceparent", Value: []byte(tp)})
	m.send(req)
	m.commit()
	want := map[string]bool{id + "/event/1": true, id + "/state/1": true, id + "/line/1/reserve": true, id + "/line/2/reserve": true}
	for _, topic := range []string{m.names.OrderEvents, m.names.OrderState, m.names.InventoryCommands} {
		for _, r := range m.d.Outputs(topic) {
			if got := kafka.Header(r, "traceparent"); got != tp {
				t.Errorf("%s: traceparent %q", topic, got)
			}
			ceID := kafka.Header(r, kafka.HeaderID)
			if !want[ceID] {
				t.Errorf("%s: unexpected ce_id %q", topic, ceID)
			}
			delete(want, ceID)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing records: %v", want)
	}
}
