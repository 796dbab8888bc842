package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orderpipe/orderpipe/internal/orders/processor"
	"github.com/orderpipe/orderpipe/schemas"
)

// Report is the verifier's verdict on one run.
type Report struct {
	Keys, Sent, Acked int // idempotency keys used, sent at least once, answered 2xx
	UnackedLanded     int // never answered 2xx, but the request reached Kafka (fine, if exactly once)
	Confirmed         int
	Rejected          int
	Cancelled         int
	Conflicts         int // changed-body retries that reached Kafka, recorded as conflicts in the request DLQ (expected)

	// Violations by class; any of them fails the run.
	Duplicates      int // an order with more than one OrderPlaced or outcome, or a ce_id twice
	Lost            int // an acknowledged (or landed) key without an OrderPlaced
	Pending         int // placed but no outcome
	Phantom         int // events or rows for a key that was never acknowledged and never reached Kafka
	Oversold        int // products whose confirmed quantities exceed their initial stock
	NegativeStock   int // snapshots with a negative or inconsistent quantity
	StockMismatch   int // products whose final stock ≠ initial − sold
	Dangling        int // reservations not released or committed
	RowMismatch     int // PostgreSQL rows missing, extra or different from the events
	ViewMismatch    int // Redis order status ≠ the outcome in Kafka
	CatalogMismatch int // Redis catalog stock ≠ the last snapshot in Kafka
	DLQValid        int // dead-lettered records that were valid input
	EventMismatch   int // an outcome event inconsistent with the request or the catalog

	// PlacedLatency and OutcomeLatency: first send → OrderPlaced / outcome
	// record timestamp, for acknowledged keys.
	PlacedLatency, OutcomeLatency Percentiles

	Samples []string // the first violations, for the log
}

// Percentiles of a latency distribution.
type Percentiles struct {
	N                  int
	P50, P95, P99, Max time.Duration
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return Percentiles{N: len(ds), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: ds[len(ds)-1]}
}

// Violations is the number of violations of every class.
func (r *Report) Violations() int {
	return r.Duplicates + r.Lost + r.Pending + r.Phantom + r.Oversold + r.NegativeStock + r.StockMismatch +
		r.Dangling + r.RowMismatch + r.ViewMismatch + r.CatalogMismatch + r.DLQValid + r.EventMismatch
}

// OK reports a clean run.
func (r *Report) OK() bool { return r.Violations() == 0 }

func (r *Report) fail(counter *int, format string, args ...any) {
	*counter++
	if len(r.Samples) < 40 {
		r.Samples = append(r.Samples, fmt.Sprintf(format, args...))
	}
}

// String is a one-line summary.
func (r *Report) String() string {
	return fmt.Sprintf("keys %d, acknowledged %d (+%d landed unacknowledged): confirmed %d, rejected %d, cancelled %d; "+
		"duplicates %d, lost %d, pending %d, phantom %d, oversold %d, negative stock %d, stock mismatch %d, dangling %d, "+
		"row mismatch %d, view mismatch %d, catalog mismatch %d, event mismatch %d, DLQ (valid input) %d, conflicts recorded %d",
		r.Keys, r.Acked, r.UnackedLanded, r.Confirmed, r.Rejected, r.Cancelled,
		r.Duplicates, r.Lost, r.Pending, r.Phantom, r.Oversold, r.NegativeStock, r.StockMismatch, r.Dangling,
		r.RowMismatch, r.ViewMismatch, r.CatalogMismatch, r.EventMismatch, r.DLQValid, r.Conflicts)
}

// orderSeen is what the events say about one order.
type orderSeen struct {
	placed, outcomes int
	status           string
	placedAt, endAt  time.Time
	outcome          *Event
}

// Verify compares what the clients sent and were answered with what the
// pipeline holds. It trusts nothing but the ledger and obs.
func Verify(products []Product, orders []*Order, obs Observed) Report {
	var r Report
	v := verifier{r: &r, products: map[string]Product{}, byID: map[string]*Order{}, obs: obs}
	for _, p := range products {
		v.products[p.ID] = p
	}
	for _, o := range orders {
		v.byID[o.OrderID] = o
	}
	v.events()
	v.orders()
	v.rows()
	v.views()
	v.reservations()
	v.stock()
	v.dlq()
	return r
}

type verifier struct {
	r        *Report
	products map[string]Product
	byID     map[string]*Order
	obs      Observed
	seen     map[string]*orderSeen
	outcome  map[string]string // orderId → final status, for orders with exactly one outcome
	final    map[string]schemas.StockSnapshot
}

func (v *verifier) events() {
	v.seen = map[string]*orderSeen{}
	ids := map[string]bool{}
	for i := range v.obs.Events {
		ev := &v.obs.Events[i]
		if ids[ev.CEID] {
			v.r.fail(&v.r.Duplicates, "ce_id %s (%s of order %s) twice on orders.events.v1", ev.CEID, ev.Type, ev.OrderID)
		}
		ids[ev.CEID] = true
		s := v.seen[ev.OrderID]
		if s == nil {
			s = &orderSeen{}
			v.seen[ev.OrderID] = s
		}
		if ev.Type == schemas.TypeOrderPlaced {
			s.placed++
			s.placedAt = ev.Timestamp
			continue
		}
		status, ok := schemas.StatusOfEvent(ev.Type)
		if !ok {
			continue
		}
		s.outcomes++
		s.status, s.endAt, s.outcome = status, ev.Timestamp, ev
	}
}

func (v *verifier) orders() {
	r := v.r
	v.outcome = map[string]string{}
	var placedLat, endLat []time.Duration
	for _, o := range v.byID {
		r.Keys++
		if o.Sent.Load() {
			r.Sent++
		}
		s := v.seen[o.OrderID]
		acked := o.Acked.Load()
		landed := v.obs.Requests[o.OrderID] > 0
		switch {
		case acked:
			r.Acked++
		case landed:
			r.UnackedLanded++
		default:
			if s != nil {
				r.fail(&r.Phantom, "key %s/%s was never acknowledged and never reached Kafka, yet order %s has %d OrderPlaced, %d outcomes",
					o.Scope, o.Key, o.OrderID, s.placed, s.outcomes)
			}
			continue
		}
		switch {
		case s == nil || s.placed == 0:
			r.fail(&r.Lost, "key %s/%s (acknowledged %v): order %s has no OrderPlaced", o.Scope, o.Key, acked, o.OrderID)
			continue
		case s.placed > 1 || s.outcomes > 1:
			r.fail(&r.Duplicates, "order %s: %d OrderPlaced and %d outcomes, want one of each", o.OrderID, s.placed, s.outcomes)
			continue
		case s.outcomes == 0:
			r.fail(&r.Pending, "order %s: placed but no outcome", o.OrderID)
			continue
		}
		v.outcome[o.OrderID] = s.status
		switch s.status {
		case schemas.StatusConfirmed:
			r.Confirmed++
			v.checkConfirmedEvent(o, s.outcome)
		case schemas.StatusRejected:
			r.Rejected++
		case schemas.StatusCancelled:
			r.Cancelled++
			if !o.CancelSent.Load() {
				r.fail(&r.EventMismatch, "order %s was cancelled, but no client ever sent a cancel for it", o.OrderID)
			}
		}
		if first := unixNano(o.FirstSent.Load()); acked && !first.IsZero() {
			placedLat = append(placedLat, max(0, s.placedAt.Sub(first)))
			endLat = append(endLat, max(0, s.endAt.Sub(first)))
		}
	}
	for id, s := range v.seen {
		if v.byID[id] == nil {
			r.fail(&r.Phantom, "order %s has %d OrderPlaced and %d outcomes but no client ever used its key", id, s.placed, s.outcomes)
		}
	}
	r.PlacedLatency, r.OutcomeLatency = percentiles(placedLat), percentiles(endLat)
}

// checkConfirmedEvent: the client's lines, catalog prices, totals that add up.
func (v *verifier) checkConfirmedEvent(o *Order, ev *Event) {
	r := v.r
	if len(ev.PricedLines) != len(o.Lines) || ev.Total == nil {
		r.fail(&r.EventMismatch, "order %s confirmed with %d priced lines (total %v), the client sent %d lines", o.OrderID, len(ev.PricedLines), ev.Total, len(o.Lines))
		return
	}
	var sum int64
	for i, pl := range ev.PricedLines {
		want := o.Lines[i]
		price := v.products[want.ProductID].Price
		if pl.ProductID != want.ProductID || pl.Quantity != want.Quantity || pl.UnitPrice.Amount != price || pl.LineTotal.Amount != price*int64(want.Quantity) {
			r.fail(&r.EventMismatch, "order %s line %d confirmed as %+v, the client sent %s×%d at %d", o.OrderID, i+1, pl, want.ProductID, want.Quantity, price)
			return
		}
		sum += pl.LineTotal.Amount
	}
	if ev.Total.Amount != sum || ev.Total.Currency != Currency {
		r.fail(&r.EventMismatch, "order %s confirmed total %+v ≠ Σ line totals %d", o.OrderID, *ev.Total, sum)
	}
}

func (v *verifier) rows() {
	r := v.r
	for id, status := range v.outcome {
		o, row := v.byID[id], v.obs.Rows[id]
		if row.Status == "" {
			r.fail(&r.RowMismatch, "order %s (%s in Kafka): no PostgreSQL row", id, status)
			continue
		}
		if row.Status != status || len(row.Lines) != len(o.Lines) || row.History != 2 {
			r.fail(&r.RowMismatch, "order %s: row %s v%d with %d lines and %d history rows; Kafka says %s, the client sent %d lines",
				id, row.Status, row.Version, len(row.Lines), row.History, status, len(o.Lines))
			continue
		}
		var sum int64
		for i, l := range row.Lines {
			want := o.Lines[i]
			if l.ProductID != want.ProductID || l.Quantity != want.Quantity {
				r.fail(&r.RowMismatch, "order %s line %d: row %s×%d, the client sent %s×%d", id, i+1, l.ProductID, l.Quantity, want.ProductID, want.Quantity)
				break
			}
			if status == schemas.StatusConfirmed {
				price := v.products[l.ProductID].Price
				if l.UnitPrice == nil || l.LineTotal == nil || *l.UnitPrice != price || *l.LineTotal != price*int64(l.Quantity) {
					r.fail(&r.RowMismatch, "order %s line %d: unit %v total %v, want %d × %d", id, i+1, l.UnitPrice, l.LineTotal, price, l.Quantity)
					break
				}
				sum += *l.LineTotal
			}
		}
		switch {
		case status == schemas.StatusConfirmed && (row.Total == nil || *row.Total != sum):
			r.fail(&r.RowMismatch, "order %s: row total %v ≠ Σ line totals %d", id, row.Total, sum)
		case status != schemas.StatusConfirmed && row.Total != nil:
			r.fail(&r.RowMismatch, "order %s: %s with a total %d", id, status, *row.Total)
		}
	}
	for id, row := range v.obs.Rows {
		if _, ok := v.outcome[id]; !ok {
			r.fail(&r.RowMismatch, "PostgreSQL row %s (%s) has no single outcome in Kafka", id, row.Status)
		}
	}
}

func (v *verifier) views() {
	r := v.r
	for id, status := range v.outcome {
		if got := v.obs.Views[id]; got != status {
			r.fail(&r.ViewMismatch, "order %s: Redis status %q, Kafka says %s", id, got, status)
		}
	}
}

type lineRef struct {
	order string
	line  int
}

// reservations: a reserved line of a confirmed order is committed; of a
// rejected or cancelled one released; of an order without an outcome, a
// dangling reservation.
func (v *verifier) reservations() {
	r := v.r
	reserved := map[lineRef]bool{}
	for _, res := range v.obs.Results {
		if res.Type == schemas.ResultReserved {
			reserved[lineRef{res.OrderID, res.LineNo}] = true
		}
	}
	released, committed := map[lineRef]bool{}, map[lineRef]bool{}
	for _, c := range v.obs.Commands {
		switch c.Type {
		case schemas.CmdRelease:
			released[lineRef{c.OrderID, c.LineNo}] = true
		case schemas.CmdCommit:
			committed[lineRef{c.OrderID, c.LineNo}] = true
		}
	}
	for ref := range reserved {
		status := v.outcome[ref.order]
		switch {
		case status == schemas.StatusConfirmed && !committed[ref]:
			r.fail(&r.Dangling, "order %s line %d: reserved, order confirmed, never committed", ref.order, ref.line)
		case (status == schemas.StatusRejected || status == schemas.StatusCancelled) && !released[ref]:
			r.fail(&r.Dangling, "order %s line %d: reserved, order %s, never released", ref.order, ref.line, status)
		case status == "" && !released[ref] && !committed[ref]:
			r.fail(&r.Dangling, "order %s line %d: reserved for an order without a single outcome", ref.order, ref.line)
		}
	}
	for ref := range committed {
		if v.outcome[ref.order] != schemas.StatusConfirmed {
			r.fail(&r.Dangling, "order %s line %d: committed, but the order is %q", ref.order, ref.line, v.outcome[ref.order])
		}
	}
	for id, status := range v.outcome {
		if status != schemas.StatusConfirmed {
			continue
		}
		for i := range v.byID[id].Lines {
			if !reserved[lineRef{id, i + 1}] {
				r.fail(&r.EventMismatch, "order %s confirmed, but line %d has no reserved result", id, i+1)
			}
		}
	}
}

// stock: never negative at any point; at the end nothing reserved and
// on hand = initial − sold; sold ≤ initial.
func (v *verifier) stock() {
	r := v.r
	v.final = map[string]schemas.StockSnapshot{}
	for _, s := range v.obs.Stock {
		if s.OnHand < 0 || s.Reserved < 0 || s.Available < 0 || s.Available != s.OnHand-s.Reserved {
			r.fail(&r.NegativeStock, "product %s snapshot v%d: on hand %d, reserved %d, available %d", s.ProductID, s.Version, s.OnHand, s.Reserved, s.Available)
		}
		if s.Version >= v.final[s.ProductID].Version {
			v.final[s.ProductID] = s
		}
	}
	sold := map[string]int64{}
	for id, status := range v.outcome {
		if status == schemas.StatusConfirmed {
			for _, l := range v.byID[id].Lines {
				sold[l.ProductID] += int64(l.Quantity)
			}
		}
	}
	for _, p := range sortedProducts(v.products) {
		s, ok := v.final[p.ID]
		if sold[p.ID] > p.Initial {
			r.fail(&r.Oversold, "product %s: %d sold, initial stock %d", p.ID, sold[p.ID], p.Initial)
		}
		switch {
		case !ok:
			r.fail(&r.StockMismatch, "product %s: no stock snapshot", p.ID)
			continue
		case s.Reserved != 0:
			r.fail(&r.Dangling, "product %s: %d still reserved at the end", p.ID, s.Reserved)
		case s.OnHand != p.Initial-sold[p.ID] || s.Available+s.Reserved+sold[p.ID] != p.Initial:
			r.fail(&r.StockMismatch, "product %s: on hand %d, available %d, reserved %d; initial %d − sold %d = %d",
				p.ID, s.OnHand, s.Available, s.Reserved, p.Initial, sold[p.ID], p.Initial-sold[p.ID])
		}
		if c, ok := v.obs.CatalogStock[p.ID]; !ok || c.OnHand != s.OnHand || c.Reserved != s.Reserved || c.Available != s.Available {
			r.fail(&r.CatalogMismatch, "product %s: catalog stock in Redis %+v (present %v), Kafka's last snapshot %+v", p.ID, c, ok, s)
		}
	}
}

func sortedProducts(m map[string]Product) []Product {
	out := make([]Product, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Product) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// dlq: the only expected dead letters are idempotency conflicts of keys a
// client retried with another body whose request reached Kafka: Redis did
// not know the key (down, or the first request was accepted while it was),
// so the order-processor decided — whether the client then got a 2xx, or a
// 5xx or timeout for a write that landed anyway.
func (v *verifier) dlq() {
	r := v.r
	changed := map[string]bool{}
	for _, o := range v.byID {
		if o.ChangedTo.Load() > 0 {
			changed[string(schemas.RequestKey(o.Scope, o.Key))] = true
		}
	}
	for _, d := range v.obs.DLQ {
		if d.Reason == processor.ReasonConflict && changed[d.Key] {
			r.Conflicts++
			continue
		}
		r.fail(&r.DLQValid, "dead letter on %s (reason %s): %s", d.Topic, d.Reason, d.Error)
	}
}
