package inventory_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/inventory"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// These tests run the processor's topology in memory (streams.TestDriver):
// the handlers, stores and outputs, without Kafka.

type rig struct {
	t     *testing.T
	names kafka.Names
	d     *streams.TestDriver
}

func newRig(t *testing.T) *rig {
	names := kafka.TopicNames("")
	d, err := streams.NewTestDriver(inventory.NewProcessor(names).Topology(), 3)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, names: names, d: d}
	r.product("p1", 1299, "USD", true)
	r.product("old", 500, "USD", false)
	r.commit()
	return r
}

func (r *rig) product(id string, price int64, cur string, active bool) {
	r.send(jsonRecord(r.t, r.names.CatalogProducts, id, schemas.Product{ProductID: id, Name: id,
		Price: schemas.Money{Amount: price, Currency: cur}, Active: active, Version: 1}))
}

func (r *rig) send(rec *kgo.Record) {
	r.t.Helper()
	if err := r.d.Send(rec); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) cmd(c schemas.InventoryCommand) {
	r.t.Helper()
	r.send(jsonRecord(r.t, r.names.InventoryCommands, c.ProductID, c))
}

func (r *rig) commit() {
	r.t.Helper()
	if err := r.d.Commit(); err != nil {
		r.t.Fatal(err)
	}
}

func reserve(p, order string, line, qty int, cur string) schemas.InventoryCommand {
	return schemas.InventoryCommand{Type: schemas.CmdReserve, ProductID: p, OrderID: order, LineNo: line, Quantity: qty, Currency: cur}
}

func finish(typ, p, order string, line int) schemas.InventoryCommand {
	return schemas.InventoryCommand{Type: typ, ProductID: p, OrderID: order, LineNo: line}
}

func adjust(p, id string, delta, absolute *int64) schemas.InventoryCommand {
	return schemas.InventoryCommand{Type: schemas.CmdAdjust, ProductID: p, AdjustmentID: id, Delta: delta, Absolute: absolute}
}

func ptr(v int64) *int64 { return &v }

func (r *rig) results() []schemas.InventoryResult {
	var out []schemas.InventoryResult
	for _, rec := range r.d.Outputs(r.names.InventoryResults) {
		var v schemas.InventoryResult
		if err := json.Unmarshal(rec.Value, &v); err != nil {
			r.t.Fatal(err)
		}
		if string(rec.Key) != v.OrderID {
			r.t.Errorf("result keyed %q for order %q", rec.Key, v.OrderID)
		}
		out = append(out, v)
	}
	return out
}

func (r *rig) stock(p string) schemas.StockSnapshot {
	var last schemas.StockSnapshot
	for _, rec := range r.d.Outputs(r.names.InventoryStock) {
		var v schemas.StockSnapshot
		if err := json.Unmarshal(rec.Value, &v); err != nil {
			r.t.Fatal(err)
		}
		if v.ProductID == p && v.Version >= last.Version {
			last = v
		}
	}
	return last
}

func TestReserveAnswersWithPriceAndPublishesStock(t *testing.T) {
	r := newRig(t)
	r.cmd(adjust("p1", "init", nil, ptr(10)))
	r.cmd(reserve("p1", "o1", 0, 3, "USD"))
	r.commit()
	res := r.results()
	if len(res) != 1 || res[0].Type != schemas.ResultReserved || res[0].UnitPrice == nil || *res[0].UnitPrice != (schemas.Money{Amount: 1299, Currency: "USD"}) {
		t.Fatalf("results %+v", res)
	}
	rec := r.d.Outputs(r.names.InventoryResults)[0]
	if kafka.Header(rec, kafka.HeaderType) != schemas.TypeInventoryResult || kafka.Header(rec, kafka.HeaderSource) != inventory.Source ||
		kafka.Header(rec, kafka.HeaderID) == "" || kafka.Header(rec, kafka.HeaderTime) == "" {
		t.Errorf("CloudEvents headers missing: %v", rec.Headers)
	}
	if s := r.stock("p1"); s.OnHand != 10 || s.Reserved != 3 || s.Available != 7 {
		t.Errorf("snapshot %+v", s)
	}
	if n := len(r.d.Outputs(r.names.InventoryStock)); n != 1 {
		t.Errorf("%d snapshots in one transaction, want 1 (the latest)", n)
	}
}

func TestDuplicateReserveAnswersTheSameAndReservesOnce(t *testing.T) {
	r := newRig(t)
	r.cmd(adjust("p1", "init", nil, ptr(10)))
	r.cmd(reserve("p1", "o1", 0, 4, "USD"))
	r.commit()
	r.d.Advance(time.Minute)
	r.cmd(reserve("p1", "o1", 0, 4, "USD"))
	r.commit()
	outs := r.d.Outputs(r.names.InventoryResults)
	if len(outs) != 2 || string(outs[0].Value) != string(outs[1].Value) ||
		kafka.Header(outs[0], kafka.HeaderID) != kafka.Header(outs[1], kafka.HeaderID) {
		t.Fatalf("a duplicate must get the identical answer (value and ce_id): %s / %s", outs[0].Value, outs[1].Value)
	}
	if s := r.stock("p1"); s.Reserved != 4 {
		t.Errorf("reserved %d, want 4 (once)", s.Reserved)
	}
}

func TestRejections(t *testing.T) {
	r := newRig(t)
	r.cmd(adjust("p1", "init", nil, ptr(5)))
	r.cmd(reserve("p1", "o1", 0, 6, "USD"))   // more than there is
	r.cmd(reserve("nope", "o1", 1, 1, "USD")) // unknown product
	r.cmd(reserve("old", "o1", 2, 1, "USD"))  // inactive
	r.cmd(reserve("p1", "o1", 3, 1, "EUR"))   // currency mismatch
	r.cmd(reserve("p1", "o1", 4, 5, ""))      // exactly the stock, order currency unknown
	r.cmd(reserve("p1", "o1", 5, 1, "USD"))   // now nothing left
	r.commit()
	want := []string{schemas.ReasonInsufficientStock, schemas.ReasonUnknownProduct, schemas.ReasonInactiveProduct,
		schemas.ReasonCurrencyMismatch, "", schemas.ReasonInsufficientStock}
	res := r.results()
	if len(res) != len(want) {
		t.Fatalf("%d results", len(res))
	}
	for i, v := range res {
		if v.Reason != want[i] || (want[i] == "") != (v.Type == schemas.ResultReserved) {
			t.Errorf("line %d: %s %q, want reason %q", v.LineNo, v.Type, v.Reason, want[i])
		}
	}
	if s := r.stock("p1"); s.Available != 0 || s.Reserved != 5 {
		t.Errorf("snapshot %+v", s)
	}
}

func TestReleaseCommitAndAdjust(t *testing.T) {
	r := newRig(t)
	r.cmd(adjust("p1", "init", nil, ptr(10)))
	r.cmd(reserve("p1", "o1", 0, 4, "USD"))
	r.cmd(reserve("p1", "o2", 0, 3, "USD"))
	r.cmd(finish(schemas.CmdRelease, "p1", "o1", 0))
	r.cmd(finish(schemas.CmdRelease, "p1", "o1", 0))    // again: no-op
	r.cmd(finish(schemas.CmdRelease, "p1", "never", 0)) // unknown line: no-op
	r.cmd(finish(schemas.CmdCommit, "p1", "o2", 0))     // sold
	r.cmd(finish(schemas.CmdRelease, "p1", "o2", 0))    // after commit: no-op
	r.cmd(adjust("p1", "restock", ptr(5), nil))         // +5
	r.cmd(adjust("p1", "restock", ptr(5), nil))         // duplicate id: ignored
	r.commit()
	if s := r.stock("p1"); s.OnHand != 12 || s.Reserved != 0 || s.Available != 12 {
		t.Errorf("snapshot %+v, want onHand 12 (10 − 3 sold + 5), reserved 0", s)
	}
	r.cmd(reserve("p1", "o3", 0, 10, "USD"))
	r.cmd(adjust("p1", "count", nil, ptr(9))) // below the 10 reserved: rejected
	r.commit()
	if s := r.stock("p1"); s.OnHand != 12 || s.Reserved != 10 {
		t.Errorf("snapshot %+v: an absolute set below reserved must be rejected", s)
	}
}

func TestBadCommandsGoToTheDLQ(t *testing.T) {
	r := newRig(t)
	r.send(&kgo.Record{Topic: r.names.InventoryCommands, Key: []byte("p1"), Value: []byte("{nope")})
	r.cmd(reserve("p1", "o1", 0, 0, "USD"))                                                 // quantity 0
	r.cmd(schemas.InventoryCommand{Type: "explode", ProductID: "p1"})                       // unknown type
	r.cmd(adjust("p1", "a", ptr(1), ptr(1)))                                                // both delta and absolute
	rec := jsonRecord(t, r.names.InventoryCommands, "p2", reserve("p1", "o1", 0, 1, "USD")) // key ≠ productId
	r.send(rec)
	r.commit()
	dlq := r.d.Outputs(kafka.DLQ(r.names.InventoryCommands))
	want := []string{streams.ReasonDecode, streams.ReasonInvalid, streams.ReasonInvalid, streams.ReasonInvalid, streams.ReasonInvalid}
	if len(dlq) != len(want) {
		t.Fatalf("%d DLQ records, want %d", len(dlq), len(want))
	}
	for i, d := range dlq {
		if got := kafka.Header(d, streams.HeaderDLQReason); got != want[i] {
			t.Errorf("DLQ[%d] reason %q, want %q (%s)", i, got, want[i], kafka.Header(d, streams.HeaderDLQError))
		}
	}
	if len(r.results()) != 0 {
		t.Error("bad commands must not be answered")
	}
}

func TestStateSurvivesRestore(t *testing.T) {
	r := newRig(t)
	r.cmd(adjust("p1", "init", nil, ptr(10)))
	r.cmd(reserve("p1", "o1", 0, 4, "USD"))
	r.commit()
	if err := r.d.Restart(); err != nil {
		t.Fatal(err)
	}
	r.cmd(reserve("p1", "o1", 0, 4, "USD")) // known after restore: a duplicate
	r.cmd(reserve("p1", "o2", 0, 7, "USD")) // only 6 left
	r.cmd(adjust("p1", "init", nil, ptr(10)))
	r.commit()
	res := r.results()
	if len(res) != 3 || res[1].Type != schemas.ResultReserved || res[2].Reason != schemas.ReasonInsufficientStock {
		t.Fatalf("after restore: %+v", res)
	}
	if s := r.stock("p1"); s.Reserved != 4 || s.OnHand != 10 {
		t.Errorf("snapshot %+v", s)
	}
}

func TestFinishedLinesExpireAfterRetention(t *testing.T) {
	r := newRig(t)
	r.cmd(adjust("p1", "init", nil, ptr(10)))
	r.cmd(reserve("p1", "done", 0, 2, "USD"))
	r.cmd(reserve("p1", "open", 0, 3, "USD"))
	r.cmd(finish(schemas.CmdCommit, "p1", "done", 0))
	r.commit()
	r.d.Advance(inventory.DefaultRetention + time.Hour)
	if err := r.d.Punctuate(); err != nil {
		t.Fatal(err)
	}
	r.commit()
	keys := map[string]bool{}
	for _, rec := range r.d.Changelog(inventory.StoreLines) {
		keys[string(rec.Key)] = rec.Value != nil
	}
	if live := keys["p1\x00done\x000"]; live {
		t.Error("the committed line should be expired (a tombstone in the changelog)")
	}
	if live := keys["p1\x00open\x000"]; !live {
		t.Error("a reserved line must stay until it is released or committed")
	}
	r.cmd(finish(schemas.CmdRelease, "p1", "open", 0))
	r.commit()
	if s := r.stock("p1"); s.Reserved != 0 || s.OnHand != 8 {
		t.Errorf("snapshot %+v", s)
	}
}
