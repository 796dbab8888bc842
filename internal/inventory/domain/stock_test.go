package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/inventory/domain"
	"github.com/orderpipe/orderpipe/schemas"
)

var (
	now     = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	usd     = schemas.Money{Amount: 1299, Currency: "USD"}
	product = domain.Product{Price: usd, Active: true}
)

func stock(onHand, reserved, sold int64) domain.Stock {
	return domain.Stock{OnHand: onHand, Reserved: reserved, Sold: sold, Adjusted: onHand + sold, Version: 7}
}

func i64(v int64) *int64 { return &v }

func TestReserveLine(t *testing.T) {
	reserved := domain.Line{Status: domain.LineReserved, Quantity: 2, UnitPrice: usd, At: now.Add(-time.Hour)}
	rejected := domain.Line{Status: domain.LineRejected, Quantity: 5, Reason: schemas.ReasonInsufficientStock, At: now.Add(-time.Hour)}
	cmd := domain.Reserve{OrderID: "o1", LineNo: 0, Quantity: 3, Currency: "USD"}
	tests := []struct {
		name      string
		st        domain.Stock
		line      domain.Line
		found     bool
		prod      domain.Product
		known     bool
		cmd       domain.Reserve
		wantOK    bool
		reason    string
		wantRes   int64 // reserved after
		duplicate bool
		err       error
	}{
		{name: "reserves when available", st: stock(10, 0, 0), prod: product, known: true, cmd: cmd, wantOK: true, wantRes: 3},
		{name: "reserves the last units exactly", st: stock(10, 7, 0), prod: product, known: true, cmd: cmd, wantOK: true, wantRes: 10},
		{name: "rejects when short by one", st: stock(10, 8, 0), prod: product, known: true, cmd: cmd, reason: schemas.ReasonInsufficientStock, wantRes: 8},
		{name: "rejects with no stock record", st: domain.Stock{}, prod: product, known: true, cmd: cmd, reason: schemas.ReasonInsufficientStock},
		{name: "rejects unknown product", st: stock(10, 0, 0), known: false, cmd: cmd, reason: schemas.ReasonUnknownProduct},
		{name: "rejects inactive product", st: stock(10, 0, 0), prod: domain.Product{Price: usd}, known: true, cmd: cmd, reason: schemas.ReasonInactiveProduct},
		{name: "rejects currency mismatch", st: stock(10, 0, 0), prod: product, known: true,
			cmd: domain.Reserve{OrderID: "o1", Quantity: 1, Currency: "EUR"}, reason: schemas.ReasonCurrencyMismatch},
		{name: "empty currency takes the product's", st: stock(10, 0, 0), prod: product, known: true,
			cmd: domain.Reserve{OrderID: "o1", Quantity: 1}, wantOK: true, wantRes: 1},
		{name: "duplicate of a reserved line answers the same and reserves nothing", st: stock(10, 2, 0), line: reserved, found: true,
			prod: product, known: true, cmd: cmd, wantOK: true, wantRes: 2, duplicate: true},
		{name: "duplicate of a rejected line stays rejected even with stock now", st: stock(10, 0, 0), line: rejected, found: true,
			prod: product, known: true, cmd: cmd, reason: schemas.ReasonInsufficientStock, duplicate: true},
		{name: "zero quantity is invalid", st: stock(10, 0, 0), prod: product, known: true,
			cmd: domain.Reserve{OrderID: "o1", Quantity: 0}, err: domain.ErrInvalid},
		{name: "missing order id is invalid", st: stock(10, 0, 0), prod: product, known: true,
			cmd: domain.Reserve{Quantity: 1}, err: domain.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := domain.ReserveLine(tc.st, tc.line, tc.found, tc.prod, tc.known, tc.cmd, now)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Result.Reserved != tc.wantOK || got.Result.Reason != tc.reason {
				t.Errorf("result = %+v, want reserved=%v reason=%q", got.Result, tc.wantOK, tc.reason)
			}
			if got.Stock.Reserved != tc.wantRes {
				t.Errorf("reserved = %d, want %d", got.Stock.Reserved, tc.wantRes)
			}
			if got.Duplicate != tc.duplicate {
				t.Errorf("duplicate = %v, want %v", got.Duplicate, tc.duplicate)
			}
			if tc.wantOK && !tc.duplicate && got.Result.UnitPrice != usd {
				t.Errorf("unit price = %+v, want %+v", got.Result.UnitPrice, usd)
			}
			if tc.duplicate && got.Result != tc.line.Result() {
				t.Errorf("duplicate answered %+v, first answer was %+v", got.Result, tc.line.Result())
			}
			if changed := got.Stock.Version != tc.st.Version; changed != (tc.wantOK && !tc.duplicate) {
				t.Errorf("stock version changed = %v", changed)
			}
			if err := got.Stock.Check(); err != nil && tc.st.Check() == nil {
				t.Error(err)
			}
		})
	}
}

func TestReleaseAndCommit(t *testing.T) {
	held := domain.Line{Status: domain.LineReserved, Quantity: 4, UnitPrice: usd}
	tests := []struct {
		name        string
		op          func(domain.Stock, domain.Line, bool, time.Time) (domain.Stock, domain.Line, bool, error)
		line        domain.Line
		found       bool
		changed     bool
		wantStock   domain.Stock
		wantStatus  domain.LineStatus
		description string
	}{
		{name: "release frees a reserved line", op: domain.ReleaseLine, line: held, found: true, changed: true,
			wantStock: stock(10, 0, 0), wantStatus: domain.LineReleased},
		{name: "release of an unknown line is a no-op", op: domain.ReleaseLine, found: false,
			wantStock: stock(10, 4, 0)},
		{name: "release of a released line is a no-op", op: domain.ReleaseLine,
			line: domain.Line{Status: domain.LineReleased, Quantity: 4}, found: true, wantStock: stock(10, 4, 0), wantStatus: domain.LineReleased},
		{name: "release of a rejected line is a no-op", op: domain.ReleaseLine,
			line: domain.Line{Status: domain.LineRejected, Quantity: 4}, found: true, wantStock: stock(10, 4, 0), wantStatus: domain.LineRejected},
		{name: "release after commit is a no-op", op: domain.ReleaseLine,
			line: domain.Line{Status: domain.LineCommitted, Quantity: 4}, found: true, wantStock: stock(10, 4, 0), wantStatus: domain.LineCommitted},
		{name: "commit sells a reserved line", op: domain.CommitLine, line: held, found: true, changed: true,
			wantStock: domain.Stock{OnHand: 6, Reserved: 0, Sold: 4, Adjusted: 10}, wantStatus: domain.LineCommitted},
		{name: "commit of an unknown line is a no-op", op: domain.CommitLine, found: false, wantStock: stock(10, 4, 0)},
		{name: "commit of a released line is a no-op", op: domain.CommitLine,
			line: domain.Line{Status: domain.LineReleased, Quantity: 4}, found: true, wantStock: stock(10, 4, 0), wantStatus: domain.LineReleased},
		{name: "commit twice sells once", op: domain.CommitLine,
			line: domain.Line{Status: domain.LineCommitted, Quantity: 4}, found: true, wantStock: stock(10, 4, 0), wantStatus: domain.LineCommitted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, line, changed, err := tc.op(stock(10, 4, 0), tc.line, tc.found, now)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			st.Version, st.UpdatedAt = 0, time.Time{}
			want := tc.wantStock
			want.Version = 0
			if st != want {
				t.Errorf("stock = %+v, want %+v", st, want)
			}
			if tc.found && line.Status != tc.wantStatus {
				t.Errorf("status = %s, want %s", line.Status, tc.wantStatus)
			}
			if err := st.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAdjustStock(t *testing.T) {
	tests := []struct {
		name      string
		st        domain.Stock
		prev      domain.Adjustment
		seen      bool
		cmd       domain.Adjust
		accepted  bool
		reason    string
		onHand    int64
		duplicate bool
		err       error
	}{
		{name: "delta restocks", st: stock(10, 4, 0), cmd: domain.Adjust{ID: "a1", Delta: i64(5)}, accepted: true, onHand: 15},
		{name: "negative delta down to reserved", st: stock(10, 4, 0), cmd: domain.Adjust{ID: "a1", Delta: i64(-6)}, accepted: true, onHand: 4},
		{name: "negative delta below reserved is rejected", st: stock(10, 4, 0), cmd: domain.Adjust{ID: "a1", Delta: i64(-7)},
			reason: domain.ReasonBelowReserved, onHand: 10},
		{name: "absolute set", st: stock(10, 4, 2), cmd: domain.Adjust{ID: "a1", Absolute: i64(20)}, accepted: true, onHand: 20},
		{name: "absolute equal to reserved", st: stock(10, 4, 0), cmd: domain.Adjust{ID: "a1", Absolute: i64(4)}, accepted: true, onHand: 4},
		{name: "absolute below reserved is rejected", st: stock(10, 4, 0), cmd: domain.Adjust{ID: "a1", Absolute: i64(3)},
			reason: domain.ReasonBelowReserved, onHand: 10},
		{name: "repeated adjustment id changes nothing", st: stock(15, 4, 0), seen: true, prev: domain.Adjustment{Accepted: true, Effect: 5},
			cmd: domain.Adjust{ID: "a1", Delta: i64(5)}, accepted: true, onHand: 15, duplicate: true},
		{name: "both delta and absolute is invalid", st: stock(10, 0, 0), cmd: domain.Adjust{ID: "a1", Delta: i64(1), Absolute: i64(1)}, err: domain.ErrInvalid},
		{name: "neither is invalid", st: stock(10, 0, 0), cmd: domain.Adjust{ID: "a1"}, err: domain.ErrInvalid},
		{name: "missing id is invalid", st: stock(10, 0, 0), cmd: domain.Adjust{Delta: i64(1)}, err: domain.ErrInvalid},
		{name: "negative absolute is invalid", st: stock(10, 0, 0), cmd: domain.Adjust{ID: "a1", Absolute: i64(-1)}, err: domain.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, adj, dup, err := domain.AdjustStock(tc.st, tc.prev, tc.seen, tc.cmd, now)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if adj.Accepted != tc.accepted || adj.Reason != tc.reason || dup != tc.duplicate {
				t.Errorf("outcome = %+v duplicate=%v", adj, dup)
			}
			if st.OnHand != tc.onHand {
				t.Errorf("on hand = %d, want %d", st.OnHand, tc.onHand)
			}
			if err := st.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestConservation drives a random mix of commands and checks after each
// one that stock is conserved: adjusted = available + reserved + sold, and
// available never goes negative.
func TestConservation(t *testing.T) {
	st := domain.Stock{}
	lines := map[int]domain.Line{}
	seed := uint64(42)
	rnd := func(n int) int { seed = seed*6364136223846793005 + 1442695040888963407; return int(seed>>33) % n }
	for i := 0; i < 5000; i++ {
		n := rnd(40)
		switch rnd(5) {
		case 0, 1:
			l, found := lines[n]
			r, err := domain.ReserveLine(st, l, found, product, true, domain.Reserve{OrderID: "o", LineNo: n, Quantity: int64(1 + rnd(5))}, now)
			if err != nil {
				t.Fatal(err)
			}
			st, lines[n] = r.Stock, r.Line
		case 2:
			l, found := lines[n]
			var err error
			st, l, _, err = domain.ReleaseLine(st, l, found, now)
			if err != nil {
				t.Fatal(err)
			}
			if found {
				lines[n] = l
			}
		case 3:
			l, found := lines[n]
			var err error
			st, l, _, err = domain.CommitLine(st, l, found, now)
			if err != nil {
				t.Fatal(err)
			}
			if found {
				lines[n] = l
			}
		case 4:
			var err error
			d := int64(rnd(11) - 3)
			st, _, _, err = domain.AdjustStock(st, domain.Adjustment{}, false, domain.Adjust{ID: "a", Delta: &d}, now)
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Check(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		var reserved, sold int64
		for _, l := range lines {
			switch l.Status {
			case domain.LineReserved:
				reserved += l.Quantity
			case domain.LineCommitted:
				sold += l.Quantity
			}
		}
		if reserved != st.Reserved || sold != st.Sold || st.Adjusted != st.Available()+st.Reserved+st.Sold {
			t.Fatalf("step %d: ledger reserved %d sold %d, stock %+v", i, reserved, sold, st)
		}
	}
}
