package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/orders/processor"
	"github.com/orderpipe/orderpipe/schemas"
)

// world is a small consistent run: what a correct pipeline leaves behind
// for a handful of keys. Each test plants one fault in it.
type world struct {
	products []Product
	orders   []*Order
	obs      Observed
	stock    map[string]*schemas.StockSnapshot
	clock    time.Time
	ce       int
}

type outcome struct {
	status   string
	reserved []int // line numbers reserved (1-based)
}

func newWorld() *world {
	w := &world{
		products: []Product{{ID: "a", Price: 100, Initial: 5}, {ID: "b", Price: 250, Initial: 1000}},
		obs: Observed{Requests: map[string]int{}, Rows: map[string]Row{}, Views: map[string]string{},
			CatalogStock: map[string]schemas.StockSnapshot{}},
		stock: map[string]*schemas.StockSnapshot{},
		clock: time.Unix(1_700_000_000, 0),
	}
	for _, p := range w.products {
		w.stock[p.ID] = &schemas.StockSnapshot{ProductID: p.ID, OnHand: p.Initial, Available: p.Initial}
		w.snapshot(p.ID)
	}
	w.order("k1", true, outcome{schemas.StatusConfirmed, []int{1, 2}}, line("a", 2), line("b", 1))
	w.order("k2", true, outcome{schemas.StatusRejected, []int{2}}, line("a", 10), line("b", 3))
	c := w.order("k3", true, outcome{schemas.StatusCancelled, []int{1}}, line("b", 3))
	c.CancelSent.Store(true)
	w.order("k4", false, outcome{}, line("a", 1))                                  // never acknowledged, never reached Kafka
	w.order("k5", false, outcome{schemas.StatusConfirmed, []int{1}}, line("b", 1)) // a timeout whose write landed
	w.order("k6", true, outcome{schemas.StatusConfirmed, []int{1}}, line("a", 3))
	changed := w.orders[0]
	changed.ChangedTo.Store(1)
	changed.ChangedAck.Store(1)
	w.obs.DLQ = append(w.obs.DLQ, DLQRecord{Topic: "orders.requests.v1.dlq.v1", Key: string(schemas.RequestKey(changed.Scope, changed.Key)), Reason: processor.ReasonConflict})
	for id, s := range w.stock {
		w.obs.CatalogStock[id] = *s
	}
	return w
}

func line(p string, q int) schemas.Line { return schemas.Line{ProductID: p, Quantity: q} }

func (w *world) tick() time.Time { w.clock = w.clock.Add(10 * time.Millisecond); return w.clock }

func (w *world) snapshot(id string) {
	s := w.stock[id]
	s.Version++
	s.Available = s.OnHand - s.Reserved
	w.obs.Stock = append(w.obs.Stock, *s)
}

func (w *world) event(typ, id string, mod func(*schemas.OrderEvent)) {
	ev := schemas.OrderEvent{Type: typ, OrderID: id}
	if mod != nil {
		mod(&ev)
	}
	w.ce++
	w.obs.Events = append(w.obs.Events, Event{OrderEvent: ev, CEID: fmt.Sprintf("ce-%d", w.ce), Timestamp: w.tick()})
}

// order adds a key; with an outcome it also adds everything a correct
// pipeline writes for it.
func (w *world) order(key string, acked bool, out outcome, lines ...schemas.Line) *Order {
	o := &Order{Scope: "customer", Key: key, OrderID: schemas.OrderID("customer", key), Lines: lines}
	o.Sent.Store(true)
	o.FirstSent.Store(w.tick().UnixNano())
	o.Acked.Store(acked)
	w.orders = append(w.orders, o)
	if out.status == "" {
		return o
	}
	id := o.OrderID
	w.obs.Requests[id]++
	w.event(schemas.TypeOrderPlaced, id, nil)
	reserved := map[int]bool{}
	for _, n := range out.reserved {
		reserved[n] = true
	}
	row := Row{Status: out.status, Version: 2, History: 2}
	var priced []schemas.PricedLine
	var total int64
	for i, l := range lines {
		n := i + 1
		w.obs.Commands = append(w.obs.Commands, schemas.InventoryCommand{Type: schemas.CmdReserve, ProductID: l.ProductID, OrderID: id, LineNo: n, Quantity: l.Quantity})
		rl := RowLine{ProductID: l.ProductID, Quantity: l.Quantity}
		if !reserved[n] {
			w.obs.Results = append(w.obs.Results, schemas.InventoryResult{Type: schemas.ResultRejected, OrderID: id, LineNo: n, ProductID: l.ProductID})
			row.Lines = append(row.Lines, rl)
			continue
		}
		w.obs.Results = append(w.obs.Results, schemas.InventoryResult{Type: schemas.ResultReserved, OrderID: id, LineNo: n, ProductID: l.ProductID, Quantity: l.Quantity})
		w.stock[l.ProductID].Reserved += int64(l.Quantity)
		w.snapshot(l.ProductID)
		price := w.products[map[string]int{"a": 0, "b": 1}[l.ProductID]].Price
		lt := price * int64(l.Quantity)
		priced = append(priced, schemas.PricedLine{LineNo: n, ProductID: l.ProductID, Quantity: l.Quantity,
			UnitPrice: schemas.Money{Amount: price, Currency: Currency}, LineTotal: schemas.Money{Amount: lt, Currency: Currency}})
		total += lt
		if out.status == schemas.StatusConfirmed {
			rl.UnitPrice, rl.LineTotal = &price, &lt
		}
		row.Lines = append(row.Lines, rl)
	}
	for _, n := range out.reserved {
		l := lines[n-1]
		s := w.stock[l.ProductID]
		s.Reserved -= int64(l.Quantity)
		cmd := schemas.CmdRelease
		if out.status == schemas.StatusConfirmed {
			cmd = schemas.CmdCommit
			s.OnHand -= int64(l.Quantity)
		}
		w.obs.Commands = append(w.obs.Commands, schemas.InventoryCommand{Type: cmd, ProductID: l.ProductID, OrderID: id, LineNo: n})
		w.snapshot(l.ProductID)
	}
	switch out.status {
	case schemas.StatusConfirmed:
		w.event(schemas.TypeOrderConfirmed, id, func(ev *schemas.OrderEvent) {
			ev.PricedLines, ev.Total = priced, &schemas.Money{Amount: total, Currency: Currency}
		})
		row.Total = &total
	case schemas.StatusRejected:
		w.event(schemas.TypeOrderRejected, id, nil)
	case schemas.StatusCancelled:
		w.event(schemas.TypeOrderCancelled, id, nil)
	}
	w.obs.Rows[id] = row
	w.obs.Views[id] = out.status
	return o
}

func (w *world) verify() Report { return Verify(w.products, w.orders, w.obs) }

func TestVerifierPassesACleanRun(t *testing.T) {
	r := newWorld().verify()
	if !r.OK() {
		t.Fatalf("clean run reported violations: %s\n%s", r.String(), strings.Join(r.Samples, "\n"))
	}
	if r.Keys != 6 || r.Acked != 4 || r.UnackedLanded != 1 || r.Confirmed != 3 || r.Rejected != 1 || r.Cancelled != 1 || r.Conflicts != 1 {
		t.Fatalf("counts: %s", r.String())
	}
	if r.PlacedLatency.N != 4 || r.OutcomeLatency.P99 <= 0 {
		t.Fatalf("latencies: %+v %+v", r.PlacedLatency, r.OutcomeLatency)
	}
}

// Each planted fault must be caught, in its own class.
func TestVerifierCatchesPlantedFaults(t *testing.T) {
	cases := []struct {
		name  string
		plant func(w *world)
		class func(r *Report) int
	}{
		{"duplicate OrderPlaced", func(w *world) {
			w.event(schemas.TypeOrderPlaced, w.orders[0].OrderID, nil)
		}, func(r *Report) int { return r.Duplicates }},
		{"duplicate outcome", func(w *world) {
			w.event(schemas.TypeOrderRejected, w.orders[1].OrderID, nil)
		}, func(r *Report) int { return r.Duplicates }},
		{"the same event twice (one ce_id)", func(w *world) {
			w.obs.Events = append(w.obs.Events, w.obs.Events[len(w.obs.Events)-1])
		}, func(r *Report) int { return r.Duplicates }},
		{"lost acknowledged order", func(w *world) {
			id := w.orders[5].OrderID
			var keep []Event
			for _, ev := range w.obs.Events {
				if ev.OrderID != id {
					keep = append(keep, ev)
				}
			}
			w.obs.Events = keep
		}, func(r *Report) int { return r.Lost }},
		{"landed but never placed", func(w *world) {
			w.obs.Requests[w.orders[3].OrderID] = 1 // k4's write did land after all
		}, func(r *Report) int { return r.Lost }},
		{"order for a key that never reached Kafka", func(w *world) {
			w.event(schemas.TypeOrderPlaced, w.orders[3].OrderID, nil)
		}, func(r *Report) int { return r.Phantom }},
		{"oversell", func(w *world) {
			// k7 confirms 3 more of product a (initial 5, 5 already sold):
			// the stock goes negative and sold exceeds the initial stock.
			w.order("k7", true, outcome{schemas.StatusConfirmed, []int{1}}, line("a", 3))
			w.obs.CatalogStock["a"] = *w.stock["a"]
		}, func(r *Report) int { return r.Oversold }},
		{"dangling reservation", func(w *world) {
			// k8 is rejected, but its reserved line is never released.
			w.order("k8", true, outcome{schemas.StatusRejected, []int{1}}, line("b", 2), line("a", 50))
			var keep []schemas.InventoryCommand
			for _, c := range w.obs.Commands {
				if c.Type != schemas.CmdRelease || c.OrderID != w.orders[len(w.orders)-1].OrderID {
					keep = append(keep, c)
				}
			}
			w.obs.Commands = keep
		}, func(r *Report) int { return r.Dangling }},
		{"stock left reserved", func(w *world) {
			s := w.stock["b"]
			s.Reserved += 2
			w.snapshot("b")
			w.obs.CatalogStock["b"] = *s
		}, func(r *Report) int { return r.Dangling }},
		{"PostgreSQL row missing", func(w *world) {
			delete(w.obs.Rows, w.orders[2].OrderID)
		}, func(r *Report) int { return r.RowMismatch }},
		{"PostgreSQL total wrong", func(w *world) {
			row := w.obs.Rows[w.orders[0].OrderID]
			wrong := *row.Total + 1
			row.Total = &wrong
			w.obs.Rows[w.orders[0].OrderID] = row
		}, func(r *Report) int { return r.RowMismatch }},
		{"Redis status stale", func(w *world) {
			w.obs.Views[w.orders[1].OrderID] = schemas.StatusPending
		}, func(r *Report) int { return r.ViewMismatch }},
		{"catalog stock stale", func(w *world) {
			c := w.obs.CatalogStock["a"]
			c.Available++
			w.obs.CatalogStock["a"] = c
		}, func(r *Report) int { return r.CatalogMismatch }},
		{"valid record dead-lettered", func(w *world) {
			w.obs.DLQ = append(w.obs.DLQ, DLQRecord{Topic: "inventory.commands.v1.dlq.v1", Reason: "handler_error"})
		}, func(r *Report) int { return r.DLQValid }},
		{"conflict recorded for a key never sent with another body", func(w *world) {
			o := w.orders[1]
			w.obs.DLQ = append(w.obs.DLQ, DLQRecord{Topic: "orders.requests.dlq.v1", Key: string(schemas.RequestKey(o.Scope, o.Key)), Reason: processor.ReasonConflict})
		}, func(r *Report) int { return r.DLQValid }},
		{"cancelled without a cancel", func(w *world) {
			w.orders[2].CancelSent.Store(false)
		}, func(r *Report) int { return r.EventMismatch }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld()
			c.plant(w)
			r := w.verify()
			if r.OK() || c.class(&r) == 0 {
				t.Fatalf("planted fault not caught in its class: %s\n%s", r.String(), strings.Join(r.Samples, "\n"))
			}
		})
	}
}
