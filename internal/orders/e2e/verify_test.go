package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
)

// readTopic reads every committed record of topic up to its end now
// (read_committed; transaction markers count towards the end but are not
// returned).
func (p *pipeline) readTopic(topic string) []*kgo.Record {
	t := p.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := p.kafka.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (partitions not read to their end: %v)", topic, ctx.Err(), left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return out
}

// waitPersisted waits until PostgreSQL has every accepted order at an
// outcome, with both of its status history rows.
func (p *pipeline) waitPersisted(reqs []*request, timeout time.Duration) {
	t := p.t
	t.Helper()
	var ids []string
	for _, r := range reqs {
		if r.accepted.Load() {
			ids = append(ids, r.orderID)
		}
	}
	deadline := time.Now().Add(timeout)
	var n int
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.pool.QueryRow(ctx, `SELECT count(*) FROM orders o WHERE o.order_id = ANY($1::uuid[]) AND o.status <> 'PENDING'
			AND (SELECT count(*) FROM order_status_history h WHERE h.order_id = o.order_id) = 2`, ids).Scan(&n)
		cancel()
		if err == nil && n == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d of %d accepted orders have an outcome in PostgreSQL (last error %v)", timeout, n, len(ids), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// verdict is what the check found, for the test's log.
type verdict struct {
	accepted, confirmed, rejected, cancelled int
}

func (v verdict) String() string {
	return fmt.Sprintf("%d accepted orders: %d confirmed, %d rejected, %d cancelled", v.accepted, v.confirmed, v.rejected, v.cancelled)
}

// verify checks the pipeline's end state against what the clients were told:
//   - every accepted key has exactly one OrderPlaced and exactly one outcome
//     event on orders.events.v1, and no other order has events;
//   - PostgreSQL has one row per accepted order with the outcome's status
//     and version, its lines as sent, and for a confirmed order unit prices
//     from the catalog, line totals = price × quantity and total = Σ line
//     totals; its status history is PENDING and the outcome;
//   - a cancelled order had a cancel accepted at the API;
//   - inventory.stock.v1 ends with nothing reserved and, per product, on
//     hand = initial stock − the quantities of confirmed orders.
func (p *pipeline) verify(reqs []*request, cat []product) verdict {
	t := p.t
	t.Helper()
	byID := map[string]*request{}
	var v verdict
	for _, r := range reqs {
		if r.accepted.Load() {
			byID[r.orderID] = r
			v.accepted++
		}
	}
	outcomes := p.checkEvents(byID)
	prices := map[string]int64{}
	sold := map[string]int64{}
	for _, pr := range cat {
		prices[pr.id] = pr.price
	}
	for id, status := range outcomes {
		switch status {
		case schemas.StatusConfirmed:
			v.confirmed++
			for _, l := range byID[id].lines {
				sold[l.ProductID] += int64(l.Quantity)
			}
		case schemas.StatusRejected:
			v.rejected++
		case schemas.StatusCancelled:
			v.cancelled++
			if !byID[id].cancelled.Load() {
				t.Errorf("order %s was cancelled, but no cancel of it was accepted", id)
			}
		}
	}
	p.checkRows(byID, outcomes, prices)
	p.checkStock(cat, sold)
	return v
}

// checkEvents returns each accepted order's outcome status.
func (p *pipeline) checkEvents(byID map[string]*request) map[string]string {
	t := p.t
	type seen struct {
		placed, outcomes int
		status           string
		ids              map[string]bool
	}
	evs := map[string]*seen{}
	for _, r := range p.readTopic(p.names.OrderEvents) {
		var ev schemas.OrderEvent
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatalf("orders.events.v1 offset %d: %v", r.Offset, err)
		}
		s := evs[ev.OrderID]
		if s == nil {
			s = &seen{ids: map[string]bool{}}
			evs[ev.OrderID] = s
		}
		if id := kafka.Header(r, kafka.HeaderID); s.ids[id] {
			t.Errorf("order %s: ce_id %s twice", ev.OrderID, id)
		} else {
			s.ids[id] = true
		}
		if ev.Type == schemas.TypeOrderPlaced {
			s.placed++
			continue
		}
		s.outcomes++
		s.status, _ = schemas.StatusOfEvent(ev.Type)
	}
	out := map[string]string{}
	bad := 0
	for id := range byID {
		s := evs[id]
		if s == nil || s.placed != 1 || s.outcomes != 1 {
			if bad++; bad <= 10 {
				t.Errorf("order %s: %+v, want exactly one OrderPlaced and one outcome", id, s)
			}
			continue
		}
		out[id] = s.status
	}
	for id := range evs {
		if byID[id] == nil {
			t.Errorf("order %s has events but its key was never accepted", id)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d accepted orders do not have exactly one OrderPlaced and one outcome", bad, len(byID))
	}
	return out
}

func (p *pipeline) checkRows(byID map[string]*request, outcomes map[string]string, prices map[string]int64) {
	t := p.t
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type row struct {
		status  string
		version int64
		total   *int64
		lines   int
		history int
	}
	rows := map[string]*row{}
	q, err := p.pool.Query(ctx, `SELECT o.order_id::text, o.status, o.version, o.total_amount,
		(SELECT count(*) FROM order_lines l WHERE l.order_id = o.order_id),
		(SELECT count(*) FROM order_status_history h WHERE h.order_id = o.order_id)
		FROM orders o`)
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var id string
		r := &row{}
		if err := q.Scan(&id, &r.status, &r.version, &r.total, &r.lines, &r.history); err != nil {
			t.Fatal(err)
		}
		rows[id] = r
	}
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(byID) {
		t.Errorf("PostgreSQL has %d orders, want %d (one per accepted key)", len(rows), len(byID))
	}
	for id, status := range outcomes {
		r := rows[id]
		switch {
		case r == nil:
			t.Errorf("order %s: no row", id)
			continue
		case r.status != status || r.version != 2 || r.lines != len(byID[id].lines) || r.history != 2:
			t.Errorf("order %s: row %s v%d with %d lines and %d history rows, want %s v2, %d lines, PENDING + outcome",
				id, r.status, r.version, r.lines, r.history, status, len(byID[id].lines))
		case status == schemas.StatusConfirmed && r.total == nil:
			t.Errorf("order %s: confirmed without a total", id)
		case status != schemas.StatusConfirmed && r.total != nil:
			t.Errorf("order %s: %s with a total", id, status)
		}
	}
	// Confirmed orders: prices from the catalog, totals that add up.
	lq, err := p.pool.Query(ctx, `SELECT l.order_id::text, l.line_no, l.product_id, l.quantity, l.unit_price, l.line_total, o.total_amount
		FROM order_lines l JOIN orders o USING (order_id) WHERE o.status = 'CONFIRMED' ORDER BY l.order_id, l.line_no`)
	if err != nil {
		t.Fatal(err)
	}
	sums, totals := map[string]int64{}, map[string]int64{}
	for lq.Next() {
		var id, productID string
		var lineNo, qty int
		var unit, lineTotal *int64
		var total int64
		if err := lq.Scan(&id, &lineNo, &productID, &qty, &unit, &lineTotal, &total); err != nil {
			t.Fatal(err)
		}
		want := byID[id].lines[lineNo-1]
		switch {
		case productID != want.ProductID || qty != want.Quantity:
			t.Errorf("order %s line %d: %s×%d, the client sent %s×%d", id, lineNo, productID, qty, want.ProductID, want.Quantity)
		case unit == nil || lineTotal == nil || *unit != prices[productID] || *lineTotal != *unit*int64(qty):
			t.Errorf("order %s line %d: unit %v total %v, want %d × %d", id, lineNo, unit, lineTotal, prices[productID], qty)
		default:
			sums[id] += *lineTotal
		}
		totals[id] = total
	}
	if err := lq.Err(); err != nil {
		t.Fatal(err)
	}
	for id, total := range totals {
		if sums[id] != total {
			t.Errorf("order %s: total %d ≠ Σ line totals %d", id, total, sums[id])
		}
	}
}

// checkStock compares the last inventory.stock.v1 snapshot of every product
// with its initial stock minus what confirmed orders bought.
// The last Commits and Releases may still be on their way: it waits up to a
// minute for the stock to settle.
func (p *pipeline) checkStock(cat []product, sold map[string]int64) {
	t := p.t
	deadline := time.Now().Add(time.Minute)
	for {
		last := map[string]schemas.StockSnapshot{}
		for _, r := range p.readTopic(p.names.InventoryStock) {
			var s schemas.StockSnapshot
			if err := json.Unmarshal(r.Value, &s); err != nil {
				t.Fatal(err)
			}
			if s.Version > last[s.ProductID].Version {
				last[s.ProductID] = s
			}
		}
		var wrong []string
		for _, pr := range cat {
			s, ok := last[pr.id]
			want := pr.stock - sold[pr.id]
			if !ok || s.Reserved != 0 || s.OnHand != want || s.Available != want {
				wrong = append(wrong, fmt.Sprintf("%s: stock %+v, want on hand = available = %d (initial %d − %d sold), nothing reserved",
					pr.id, s, want, pr.stock, sold[pr.id]))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, w := range wrong {
				t.Error(w)
			}
			return
		}
		time.Sleep(time.Second)
	}
}
