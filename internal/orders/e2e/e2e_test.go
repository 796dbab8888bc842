package e2e_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderpipe/orderpipe/internal/orders/processor"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// TestOrdersEndToEnd sends a burst of orders through the ingress — concurrent
// duplicates, retries after acceptance, cancels, orders that fit the stock
// and orders that don't — and checks that every accepted key ends with
// exactly one OrderPlaced, one outcome and one PostgreSQL row whose total is
// the sum of its line prices, that rejected and cancelled orders released
// their stock and that the stock equals the confirmed orders. Then it asks
// for outcomes with `Prefer: wait` (201 with the confirmed or rejected
// order), checks the API's answers to cancels of finished orders, and
// reuses a key Redis has forgotten: the order-processor decides (a retry is
// dropped; another body is recorded as a conflict and never a second order).
func TestOrdersEndToEnd(t *testing.T) {
	p := newPipeline(t, testenv.Postgres(t), nil)
	cat := testCatalog()
	p.seed(cat)
	p.orders.Start("order-processor-0")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	w := workload{keys: 300, workers: 12, duration: 8 * time.Second, dupes: 0.2, retries: 0.2, cancels: 0.1, seed: 1}
	reqs := p.drive(ctx, w, cat)

	// Prefer: wait answers with the outcome.
	fits := newRequest("wait-fits", "customer-wait", []schemas.Line{{ProductID: "plenty-1", Quantity: 2}, {ProductID: "plenty-2", Quantity: 1}})
	a, ok := p.post(ctx, fits, map[string]string{"Prefer": "wait=25"})
	if !ok || a.status != http.StatusCreated || a.body["status"] != schemas.StatusConfirmed || a.header.Get("Preference-Applied") != "wait=25" {
		t.Fatalf("Prefer: wait on an order that fits: %d %v %v", a.status, a.body, a.header)
	}
	total, _ := a.body["total"].(map[string]any)
	if want := float64(2*cat[5].price + cat[6].price); total["amount"] != want || total["currency"] != "USD" {
		t.Fatalf("confirmed total %v, want %v USD", total, want)
	}
	tooMany := newRequest("wait-too-many", "customer-wait", []schemas.Line{{ProductID: "plenty-0", Quantity: 1}, {ProductID: "scarce-0", Quantity: 500}})
	a, ok = p.post(ctx, tooMany, map[string]string{"Prefer": "wait=25"})
	if !ok || a.status != http.StatusCreated || a.body["status"] != schemas.StatusRejected || a.body["reason"] != schemas.ReasonInsufficientStock {
		t.Fatalf("Prefer: wait on an order that does not fit: %d %v", a.status, a.body)
	}
	fits.accepted.Store(true)
	tooMany.accepted.Store(true)
	// Cancel of a confirmed order: 409; of a rejected one: an idempotent no-op.
	if a, err := p.call(ctx, "POST", "/api/v1/orders/"+fits.orderID+"/cancel", "", nil); err != nil || a.status != http.StatusConflict {
		t.Fatalf("cancel of a confirmed order: %d %v %v", a.status, a.body, err)
	}
	if a, err := p.call(ctx, "POST", "/api/v1/orders/"+tooMany.orderID+"/cancel", "", nil); err != nil ||
		a.status != http.StatusAccepted || a.body["status"] != schemas.StatusRejected {
		t.Fatalf("cancel of a rejected order: %d %v %v", a.status, a.body, err)
	}
	if a, err := p.call(ctx, "GET", "/api/v1/orders/"+fits.orderID, "", nil); err != nil || a.status != http.StatusOK || a.body["status"] != schemas.StatusConfirmed {
		t.Fatalf("GET a confirmed order: %d %v %v", a.status, a.body, err)
	}

	// Redis forgets a key (restarted, evicted): a retry with the same body
	// and one with another body still get 202 and the same orderId; the
	// order-processor drops the first and records the second as a conflict.
	p.forgetKeysAndReuse(ctx, reqs[0])

	reqs = append(reqs, fits, tooMany)
	p.waitPersisted(reqs, 3*time.Minute)
	v := p.verify(reqs, cat)
	t.Log(v)
	if v.confirmed == 0 || v.rejected == 0 {
		t.Errorf("the workload should confirm some orders and reject others: %s", v)
	}
	var conflicts int
	for _, r := range p.kafka.ReadAll(p.t, kafka.DLQ(p.names.OrderRequests)) {
		if kafka.Header(r, streams.HeaderDLQReason) == processor.ReasonConflict && string(r.Key) == string(schemas.RequestKey(reqs[0].customer, reqs[0].key)) {
			conflicts++
		}
	}
	if conflicts != 1 {
		t.Errorf("%d idempotency conflicts recorded on %s for key %s, want 1", conflicts, kafka.DLQ(p.names.OrderRequests), reqs[0].key)
	}
}

// forgetKeysAndReuse deletes r's idempotency record from Redis and sends r
// again, then r's key with another body: both answer 202 with r's orderId.
func (p *pipeline) forgetKeysAndReuse(ctx context.Context, r *request) {
	t := p.t
	if !r.accepted.Load() {
		t.Fatalf("key %s was not accepted", r.key)
	}
	opts, err := redis.ParseURL(p.redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer func() { _ = rdb.Close() }()
	changed := newRequest(r.key, r.customer, []schemas.Line{{ProductID: "plenty-7", Quantity: 9}})
	r.changed.Store(true)
	for _, again := range []*request{r, changed} {
		if err := rdb.Del(ctx, p.redis.Prefix+"idem:"+r.orderID).Err(); err != nil { // intake's layout (internal/intake/idem.go)
			t.Fatal(err)
		}
		if a, ok := p.post(ctx, again, nil); !ok || a.status != http.StatusAccepted {
			t.Fatalf("key %s sent again after Redis forgot it: %d %v", r.key, a.status, a.body)
		}
	}
}

// TestOrdersEndToEndThroughKills is the same burst with the order-processor
// (saga, sink and projector in one OS process) killed with SIGKILL four
// times while orders flow, and its private PostgreSQL stopped and restarted
// once: the same checks must hold — nothing lost, nothing doubled.
func TestOrdersEndToEndThroughKills(t *testing.T) {
	pg := privatePostgres(t)
	p := newPipeline(t, pg.DSN(), pg)
	cat := testCatalog()
	p.seed(cat)
	const slot = "order-processor-0"
	p.orders.Start(slot)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	w := workload{keys: 600, workers: 12, duration: 24 * time.Second, dupes: 0.15, retries: 0.15, cancels: 0.05, seed: 2}
	done := make(chan []*request, 1)
	go func() { done <- p.drive(ctx, w, cat) }()

	const kills = 4
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(3000+rand.IntN(2500)) * time.Millisecond)
		p.orders.Kill(slot)
		t.Logf("kill %d: order-processor killed with SIGKILL", i+1)
		if i == 1 {
			if err := pg.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			t.Log("PostgreSQL stopped")
		}
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
		p.orders.Start(slot)
		if i == 1 {
			time.Sleep(3 * time.Second)
			if err := pg.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Log("PostgreSQL started again")
		}
	}
	reqs := <-done
	p.waitPersisted(reqs, 3*time.Minute)
	v := p.verify(reqs, cat)
	t.Logf("%s; %d kills, one PostgreSQL restart", v, kills)
	if v.confirmed == 0 || v.rejected == 0 {
		t.Errorf("the workload should confirm some orders and reject others: %s", v)
	}
}
