package catalog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// With Redis stopped mid-test, products L1 has seen are served stale with a
// Warning, others get 503 + Retry-After (the circuit breaker answers without
// calling Redis); once Redis is back, reads are fresh again and the
// projector catches up with what was produced meanwhile.
func TestRedisDownServesStaleThenRecovers(t *testing.T) {
	t.Parallel()
	rs := svctest.PrivateRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := testenv.Kafka(t).Config
	svctest.ApplyTopics(t, k)
	cfg := testConfig(k, config.Redis{URL: rs.URL(), KeyPrefix: "t:"})
	cfg.L1TTL = 300 * time.Millisecond
	cfg.BreakerDelay = time.Second
	h := startCatalog(t, cfg)
	w := newWriter(t, k)

	w.products(product("p-1", "Torch", "tools", 900, 1), product("p-2", "Saw", "tools", 1900, 1))
	eventually(t, 30*time.Second, "p-1 and p-2 projected", func() bool {
		return h.get("/api/v1/products/p-1").Status == 200 && h.get("/api/v1/products/p-2").Status == 200
	})
	before := h.get("/api/v1/products/p-1")
	listing := h.get("/api/v1/products?categoryId=tools")
	cart := h.do("POST", "/api/v1/carts", "", nil)
	if listing.Status != 200 || cart.Status != 201 {
		t.Fatalf("listing %d, cart %d", listing.Status, cart.Status)
	}
	// L1 loses p-2 (as if it had never been read here).
	h.svc.reader.products.Remove("p-2")

	if err := rs.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(cfg.L1TTL + 100*time.Millisecond)
	for i := range 20 {
		got := h.get("/api/v1/products/p-1")
		if got.Status != 200 || got.Header.Get("X-Cache-Status") != "STALE" || !strings.HasPrefix(got.Header.Get("Warning"), "110 ") {
			t.Fatalf("read %d with Redis down: %d %v %s; want 200 STALE with a Warning", i, got.Status, got.Header, got.Raw)
		}
		if string(got.Raw) != string(before.Raw) || got.Header.Get("ETag") != before.Header.Get("ETag") {
			t.Fatalf("stale body differs from the last good one")
		}
	}
	if got := h.get("/api/v1/products?categoryId=tools"); got.Status != 200 || got.Header.Get("X-Cache-Status") != "STALE" || got.Header.Get("Warning") == "" {
		t.Fatalf("listing with Redis down: %d %v", got.Status, got.Header)
	}
	got := h.get("/api/v1/products/p-2")
	if got.Status != 503 || got.Header.Get("Retry-After") == "" || got.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("uncached product with Redis down: %d %v %s; want 503 + Retry-After", got.Status, got.Header, got.Raw)
	}
	if n := counterValue(h.svc.m.redis["breaker_open"]); n == 0 {
		t.Fatal("the circuit breaker never opened: every read waited on the dead Redis")
	}
	if got := h.get("/api/v1/carts/" + cart.Body["id"].(string)); got.Status != 503 {
		t.Fatalf("cart read with Redis down: %d", got.Status)
	}
	// Written while Redis is down: the projector must retry, not skip it.
	w.products(product("p-1", "Torch", "tools", 800, 2), product("p-3", "Drill", "tools", 5900, 1))
	time.Sleep(500 * time.Millisecond)

	if err := rs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "fresh reads and the catch-up after Redis returns", func() bool {
		a := h.get("/api/v1/products/p-1")
		return a.Status == 200 && a.Header.Get("Warning") == "" && num(field(a.Body, "price", "amount")) == 800 &&
			h.get("/api/v1/products/p-3").Status == 200 && h.get("/api/v1/products/p-2").Status == 200
	})
	if got := h.get("/api/v1/carts/" + cart.Body["id"].(string)); got.Status != 200 {
		t.Fatalf("cart after recovery: %d", got.Status)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}
