package orderstore_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderpipe/orderpipe/internal/orderstore"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/problem"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// TestMigrateIsIdempotentAndSafeConcurrently: three processes migrating one
// empty database at once all succeed (the advisory lock serialises them),
// exactly one applies each version, and migrating again applies nothing.
func TestMigrateIsIdempotentAndSafeConcurrently(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := testenv.Postgres(t)
	var wg sync.WaitGroup
	applied := make([][]int64, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); applied[i], errs[i] = orderstore.Migrate(ctx, dsn, nil) }()
	}
	wg.Wait()
	var all []int64
	for i := range 3 {
		if errs[i] != nil {
			t.Fatalf("migrate %d: %v", i, errs[i])
		}
		all = append(all, applied[i]...)
	}
	if len(all) != 2 || all[0] != 1 || all[1] != 2 {
		t.Fatalf("migrations applied %v, want versions 1 and 2 exactly once, by one process", applied)
	}
	again, err := orderstore.Migrate(ctx, dsn, nil)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v (%v), want nothing", again, err)
	}
	var b strings.Builder
	if err := orderstore.MigrationStatus(ctx, dsn, &b); err != nil || !strings.Contains(b.String(), "00001_orders.sql") || !strings.Contains(b.String(), "applied") {
		t.Fatalf("status = %q, %v", b.String(), err)
	}
}

type store struct {
	rw     *pgxpool.Pool
	reader *orderstore.Reader
	ro     *pgxpool.Pool
}

func newStore(t *testing.T, ctx context.Context) *store {
	t.Helper()
	dsn := testenv.Postgres(t)
	if _, err := orderstore.Migrate(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	rw, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rw.Close)
	ro, err := orderstore.NewReadOnlyPool(ctx, config.Postgres{URL: dsn, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ro.Close)
	return &store{rw: rw, reader: orderstore.NewReader(ro), ro: ro}
}

// insert writes an order as the sink would: CONFIRMED with prices when
// confirmed, else PENDING without.
func (s *store) insert(t *testing.T, ctx context.Context, id, customer string, created time.Time, confirmed bool) {
	t.Helper()
	status, total := schemas.StatusPending, (*int64)(nil)
	if confirmed {
		status, total = schemas.StatusConfirmed, new(int64)
		*total = 100*1 + 200*2 + 300*3
	}
	if _, err := s.rw.Exec(ctx, `INSERT INTO orders (order_id, customer_id, status, version, currency, total_amount, shipping_address, created_at, updated_at)
		VALUES ($1, $2, $3, 2, 'USD', $4, '{}', $5, $5)`, id, customer, status, total, created); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		var unit, line *int64
		if confirmed {
			u, l := int64(100*i), int64(100*i*i)
			unit, line = &u, &l
		}
		if _, err := s.rw.Exec(ctx, `INSERT INTO order_lines VALUES ($1, $2, $3, $4, $5, $6)`, id, i, "p-"+strconv.Itoa(i), i, unit, line); err != nil {
			t.Fatal(err)
		}
	}
}

// TestListPagesThroughACustomersOrders: pages are newest first, disjoint,
// complete, in a stable order even when orders share a creation time; only
// the customer's orders; lines and money come back in the view shape.
func TestListPagesThroughACustomersOrders(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := newStore(t, ctx)
	base := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for i := range 25 {
		// Pairs share a creation time: the order id breaks the tie.
		s.insert(t, ctx, schemas.OrderID("a", strconv.Itoa(i)), "alice", base.Add(time.Duration(i/2)*time.Second), i%2 == 0)
	}
	for i := range 5 {
		s.insert(t, ctx, schemas.OrderID("b", strconv.Itoa(i)), "bob", base, true)
	}

	var got []string
	cursor := ""
	pages := 0
	for {
		page, err := s.reader.List(ctx, "alice", cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range page.Items {
			if v.CustomerID != "alice" || len(v.Lines) != 3 {
				t.Fatalf("item %+v", v)
			}
			if v.Status == schemas.StatusConfirmed && (v.Total == nil || v.Total.Amount != 1400 || v.Lines[2].LineTotal.Amount != 900 || v.Lines[2].UnitPrice.Currency != "USD") {
				t.Fatalf("money of %s: %+v", v.OrderID, v)
			}
			if v.Status == schemas.StatusPending && (v.Total != nil || v.Lines[0].UnitPrice != nil) {
				t.Fatalf("a pending order has prices: %+v", v)
			}
			got = append(got, v.OrderID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if pages != 3 || len(got) != 25 {
		t.Fatalf("%d pages, %d orders; want 3 pages of 10+10+5", pages, len(got))
	}
	var want []string
	if err := s.rw.QueryRow(ctx, `SELECT array_agg(order_id::text ORDER BY created_at DESC, order_id DESC) FROM orders WHERE customer_id = 'alice'`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages in the wrong order or overlapping:\n got %v\nwant %v", got, want)
	}
	if page, err := s.reader.List(ctx, "nobody", "", 0); err != nil || len(page.Items) != 0 || page.NextCursor != "" {
		t.Fatalf("unknown customer: %+v, %v", page, err)
	}
}

// TestListRefusesBadInputWith4xx: a cursor that is garbage, cut, altered,
// or issued for another customer, and a page size out of range, are client
// errors carrying a 400 problem — never a 5xx.
func TestListRefusesBadInputWith4xx(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := newStore(t, ctx)
	base := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		s.insert(t, ctx, schemas.OrderID("a", strconv.Itoa(i)), "alice", base.Add(time.Duration(i)*time.Second), true)
	}
	page, err := s.reader.List(ctx, "alice", "", 1)
	if err != nil || page.NextCursor == "" {
		t.Fatal(page, err)
	}
	good := page.NextCursor
	flipped := []byte(good)
	flipped[5] ^= 1
	if flipped[5] == '-' || flipped[5] == '_' {
		flipped[5] = 'A'
	}
	for name, c := range map[string]string{
		"garbage":          "not-a-cursor",
		"not base64":       "%%%%",
		"cut":              good[:len(good)-3],
		"altered":          string(flipped),
		"padded":           good + "==",
		"empty-ish":        "A",
		"very long":        strings.Repeat("A", 5000),
		"offset injection": "1 OR 1=1",
	} {
		_, err := s.reader.List(ctx, "alice", c, 10)
		var p *problem.Problem
		if !errors.Is(err, orderstore.ErrBadCursor) || !errors.As(err, &p) || p.Status != http.StatusBadRequest || !orderstore.IsClientError(err) {
			t.Errorf("cursor %s: %v, want ErrBadCursor with a 400 problem", name, err)
		}
	}
	if _, err := s.reader.List(ctx, "bob", good, 10); !errors.Is(err, orderstore.ErrBadCursor) {
		t.Errorf("alice's cursor used for bob: %v, want ErrBadCursor", err)
	}
	for _, n := range []int{-1, 101, 1 << 30} {
		var p *problem.Problem
		if _, err := s.reader.List(ctx, "alice", "", n); !errors.Is(err, orderstore.ErrBadPageSize) || !errors.As(err, &p) || p.Status != 400 {
			t.Errorf("pageSize %d: %v, want ErrBadPageSize (400)", n, err)
		}
	}
	if page, err := s.reader.List(ctx, "alice", good, 10); err != nil || len(page.Items) != 2 {
		t.Errorf("the good cursor: %d items, %v", len(page.Items), err)
	}
}

// TestGetAndReadOnlyPool: Get returns one order or ErrNotFound (404); the
// read-only pool cannot write; PostgreSQL unreachable is ErrUnavailable (503).
func TestGetAndReadOnlyPool(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := newStore(t, ctx)
	id := schemas.OrderID("a", "1")
	s.insert(t, ctx, id, "alice", time.Now(), true)
	v, err := s.reader.Get(ctx, id)
	if err != nil || v.OrderID != id || v.Status != schemas.StatusConfirmed || v.Total.Amount != 1400 || v.Version != 2 {
		t.Fatalf("Get = %+v, %v", v, err)
	}
	for _, missing := range []string{schemas.OrderID("a", "2"), "not-a-uuid"} {
		var p *problem.Problem
		if _, err := s.reader.Get(ctx, missing); !errors.Is(err, orderstore.ErrNotFound) || !errors.As(err, &p) || p.Status != 404 {
			t.Errorf("Get(%s) = %v, want ErrNotFound (404)", missing, err)
		}
	}
	if _, err := s.ro.Exec(ctx, `DELETE FROM orders`); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a write through the read-only pool: %v, want a read-only transaction error", err)
	}
	down, err := orderstore.NewReadOnlyPool(ctx, config.Postgres{URL: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	var p *problem.Problem
	if _, err := orderstore.NewReader(down).List(ctx, "alice", "", 10); !errors.Is(err, orderstore.ErrUnavailable) || !errors.As(err, &p) || p.Status != 503 || p.RetryAfter() == 0 {
		t.Errorf("PostgreSQL down: %v, want ErrUnavailable (503 with Retry-After)", err)
	}
}
