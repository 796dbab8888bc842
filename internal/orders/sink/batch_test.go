package sink

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

const (
	stateTopic  = "orders.state.v1"
	eventsTopic = "orders.events.v1"
)

var (
	b      = Builder{StateTopic: stateTopic, EventsTopic: eventsTopic}
	oid    = schemas.OrderID("s", "k")
	t0     = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	usd    = func(n int64) schemas.Money { return schemas.Money{Amount: n, Currency: "USD"} }
	lines3 = []schemas.Line{{ProductID: "a", Quantity: 2}, {ProductID: "b", Quantity: 1}, {ProductID: "c", Quantity: 3}}
)

func state(version int64, status string, mutate ...func(*schemas.OrderState)) schemas.OrderState {
	s := schemas.OrderState{OrderID: oid, Version: version, Status: status, CustomerID: "cust", Currency: "USD",
		ShippingAddress: schemas.Address{AddressLine1: "x", City: "y", Country: "US"}, Lines: lines3, CreatedAt: t0, UpdatedAt: t0}
	if status == schemas.StatusConfirmed {
		s.PricedLines = []schemas.PricedLine{
			{LineNo: 1, ProductID: "a", Quantity: 2, UnitPrice: usd(100), LineTotal: usd(200)},
			{LineNo: 2, ProductID: "b", Quantity: 1, UnitPrice: usd(50), LineTotal: usd(50)},
			{LineNo: 3, ProductID: "c", Quantity: 3, UnitPrice: usd(10), LineTotal: usd(30)},
		}
		total := usd(280)
		s.Total = &total
	}
	for _, m := range mutate {
		m(&s)
	}
	return s
}

func rec(topic string, offset int64, v any, ceType string) Record {
	val, _ := json.Marshal(v)
	return Record{Topic: topic, Partition: 0, Offset: offset, Key: []byte(oid), Value: val, CEID: topic + "-" + string(rune('a'+offset)), CEType: ceType}
}

func all(int64) func(TP) (int64, bool) {
	return func(TP) (int64, bool) { return -1, true }
}

func TestBuildKeepsNewestStatePerOrderAndOneHistoryRowPerStatus(t *testing.T) {
	placed := schemas.OrderEvent{Type: schemas.TypeOrderPlaced, OrderID: oid, Version: 1, CustomerID: "cust", OccurredAt: t0}
	confirmed := schemas.OrderEvent{Type: schemas.TypeOrderConfirmed, OrderID: oid, Version: 2, CustomerID: "cust", OccurredAt: t0}
	records := []Record{
		rec(stateTopic, 0, state(1, schemas.StatusPending), schemas.TypeOrderState),
		rec(eventsTopic, 0, placed, schemas.TypeOrderPlaced),
		rec(stateTopic, 2, state(2, schemas.StatusConfirmed), schemas.TypeOrderState),
		rec(eventsTopic, 2, confirmed, schemas.TypeOrderConfirmed),
		rec(stateTopic, 4, state(1, schemas.StatusPending), schemas.TypeOrderState), // replayed old state
		rec(eventsTopic, 4, placed, schemas.TypeOrderPlaced),                        // replayed event
		rec(eventsTopic, 5, map[string]any{"type": "io.orderpipe.order.shipped.v1", "orderId": oid}, "io.orderpipe.order.shipped.v1"),
	}
	batch := b.Build(records, all(-1))
	if len(batch.Orders) != 1 || batch.Orders[0].Version != 2 || batch.Orders[0].Status != schemas.StatusConfirmed {
		t.Fatalf("orders = %+v, want the version-2 CONFIRMED row only", batch.Orders)
	}
	if o := batch.Orders[0]; *o.Total != 280 || *o.Lines[0].UnitPrice != 100 || *o.Lines[2].LineTotal != 30 || o.Lines[2].LineNo != 3 {
		t.Fatalf("prices not carried: %+v", o)
	}
	if len(batch.History) != 2 || batch.History[0].Status != schemas.StatusPending || batch.History[1].Status != schemas.StatusConfirmed {
		t.Fatalf("history = %+v", batch.History)
	}
	if batch.Skipped != 1 || len(batch.Poison) != 0 || batch.Records != len(records) {
		t.Fatalf("skipped %d poison %v records %d", batch.Skipped, batch.Poison, batch.Records)
	}
	if s := batch.Spans[TP{stateTopic, 0}]; s.From != -1 || s.Last != 4 {
		t.Fatalf("state span = %+v", s)
	}
	if s := batch.Spans[TP{eventsTopic, 0}]; s.From != -1 || s.Last != 5 {
		t.Fatalf("events span = %+v", s)
	}
}

func TestBuildDropsRecordsBelowTheStoredPositionAndUnassignedPartitions(t *testing.T) {
	records := []Record{
		rec(stateTopic, 3, state(1, schemas.StatusPending), ""),
		rec(stateTopic, 7, state(2, schemas.StatusConfirmed), ""),
	}
	other := rec(stateTopic, 9, state(3, schemas.StatusConfirmed), "")
	other.Partition = 1
	records = append(records, other)
	batch := b.Build(records, func(tp TP) (int64, bool) {
		if tp.Partition == 1 {
			return 0, false // revoked
		}
		return 5, true
	})
	if len(batch.Orders) != 1 || batch.Orders[0].Version != 2 {
		t.Fatalf("orders = %+v, want version 2 only", batch.Orders)
	}
	if len(batch.Spans) != 1 || batch.Spans[TP{stateTopic, 0}] != (Span{From: 5, Last: 7}) {
		t.Fatalf("spans = %+v", batch.Spans)
	}
}

func TestBuildRefusesOrdersThatDoNotAddUp(t *testing.T) {
	cases := map[string]func(*schemas.OrderState){
		"total ≠ Σ lines":          func(s *schemas.OrderState) { s.Total.Amount++ },
		"line total ≠ unit × qty":  func(s *schemas.OrderState) { s.PricedLines[0].LineTotal.Amount = 150; s.Total.Amount = 230 },
		"line in another currency": func(s *schemas.OrderState) { s.PricedLines[1].UnitPrice.Currency = "EUR" },
		"priced line not in order": func(s *schemas.OrderState) { s.PricedLines[2].LineNo = 4 },
		"confirmed without total":  func(s *schemas.OrderState) { s.Total = nil },
		"order id not a uuid":      func(s *schemas.OrderState) { s.OrderID = "order-1" },
		"version 0":                func(s *schemas.OrderState) { s.Version = 0 },
		"quantity out of range":    func(s *schemas.OrderState) { s.Lines = []schemas.Line{{ProductID: "a", Quantity: 0}} },
		"lowercase currency":       func(s *schemas.OrderState) { s.Currency = "usd" },
	}
	for name, mutate := range cases {
		r := rec(stateTopic, 0, state(2, schemas.StatusConfirmed, mutate), "")
		if name == "order id not a uuid" {
			r.Key = []byte("order-1")
		}
		batch := b.Build([]Record{r}, all(-1))
		if len(batch.Poison) != 1 || len(batch.Orders) != 0 || batch.Poison[0].Reason != schemas.DLQReasonInvalid {
			t.Errorf("%s: poison %v orders %d, want it refused as invalid", name, batch.Poison, len(batch.Orders))
		}
		if batch.Spans[TP{stateTopic, 0}].Last != 0 {
			t.Errorf("%s: a refused record must still advance its partition", name)
		}
	}
	bad := Record{Topic: eventsTopic, Offset: 1, Key: []byte(oid), Value: []byte("{not json"), CEType: schemas.TypeOrderPlaced}
	if batch := b.Build([]Record{bad}, all(-1)); len(batch.Poison) != 1 || batch.Poison[0].Reason != schemas.DLQReasonDecode || !strings.Contains(batch.Poison[0].Err, "JSON") {
		t.Errorf("undecodable event: %+v", batch.Poison)
	}
}

func BenchmarkDecode(b *testing.B) {
	st := rec(stateTopic, 0, state(2, schemas.StatusConfirmed), schemas.TypeOrderState)
	confirmed := schemas.OrderEvent{Type: schemas.TypeOrderConfirmed, OrderID: oid, Version: 2, CustomerID: "cust", OccurredAt: t0,
		PricedLines: state(2, schemas.StatusConfirmed).PricedLines, Total: state(2, schemas.StatusConfirmed).Total, Currency: "USD"}
	ev := rec(eventsTopic, 0, confirmed, schemas.TypeOrderConfirmed)
	b.Run("state", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeState(st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("event", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeEvent(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
