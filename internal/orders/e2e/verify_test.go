package e2e_test

import (
	"context"
	"fmt"
	"time"

	"github.com/orderpipe/orderpipe/internal/chaos"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

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
	var n int
	testenv.Eventually(t, timeout, "every accepted order has an outcome in PostgreSQL", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.pool.QueryRow(ctx, `SELECT count(*) FROM orders o WHERE o.order_id = ANY($1::uuid[]) AND o.status <> 'PENDING'
			AND (SELECT count(*) FROM order_status_history h WHERE h.order_id = o.order_id) = 2`, ids).Scan(&n)
		cancel()
		if err == nil && n == len(ids) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%d of %d accepted orders have an outcome in PostgreSQL (last query: %w)", n, len(ids), err)
		}
		return fmt.Errorf("%d of %d accepted orders have an outcome in PostgreSQL", n, len(ids))
	})
}

// verdict is what the check found, for the test's log.
type verdict struct {
	accepted, confirmed, rejected, cancelled int
}

func (v verdict) String() string {
	return fmt.Sprintf("%d accepted orders: %d confirmed, %d rejected, %d cancelled", v.accepted, v.confirmed, v.rejected, v.cancelled)
}

// verify checks the pipeline's end state against what the clients were told,
// with the chaos run's independent verifier (internal/chaos.Verify): every
// topic read with read_committed to its stable end, the PostgreSQL rows and
// the Redis order status projection, against the requests' own ledger —
//   - every accepted key has exactly one OrderPlaced and exactly one outcome
//     event on orders.events.v1, and no other order has events;
//   - PostgreSQL has one row per accepted order with the outcome's status,
//     its lines as sent, and for a confirmed order unit prices from the
//     catalog, line totals = price × quantity and total = Σ line totals;
//     its status history is PENDING and the outcome;
//   - a cancelled order had a cancel sent to the API;
//   - stock never negative; every reservation committed or released; at the
//     end nothing reserved and, per product, on hand = initial stock − the
//     quantities of confirmed orders;
//   - the Redis status of every order is its outcome;
//   - nothing in a DLQ but the conflicts of keys reused with another body.
//
// The last Commits and Releases, rows and statuses may still be on their
// way: it retries for up to a minute before it reports violations.
func (p *pipeline) verify(reqs []*request, cat []product) verdict {
	t := p.t
	t.Helper()
	products := make([]chaos.Product, len(cat))
	for i, pr := range cat {
		products[i] = chaos.Product{ID: pr.id, Price: pr.price, Initial: pr.stock}
	}
	orders := make([]*chaos.Order, 0, len(reqs))
	ids := make([]string, 0, len(reqs))
	for _, r := range reqs {
		o := &chaos.Order{Scope: r.customer, Key: r.key, OrderID: r.orderID, Lines: r.lines, Body: []byte(r.body)}
		o.Sent.Store(true)
		o.Acked.Store(r.accepted.Load())
		o.CancelSent.Store(r.cancelled.Load())
		if r.changed.Load() {
			o.ChangedTo.Store(1)
		}
		orders = append(orders, o)
		ids = append(ids, r.orderID)
	}
	col := chaos.Collector{Kafka: p.kafka.Config, PostgresURL: p.dsn, RedisURL: p.redis.URL, KeyPrefix: p.redis.Prefix}
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		obs, err := col.Collect(ctx, ids, products)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// No catalog-api runs here: its stock projection is not checked.
		obs.CatalogStock = catalogAsKafka(obs)
		rep := chaos.Verify(products, orders, obs)
		if rep.OK() || time.Now().After(deadline) {
			for _, s := range rep.Samples {
				t.Error(s)
			}
			if !rep.OK() {
				t.Fatalf("verifier: %s", rep.String())
			}
			return verdict{accepted: rep.Acked, confirmed: rep.Confirmed, rejected: rep.Rejected, cancelled: rep.Cancelled}
		}
		time.Sleep(time.Second)
	}
}

// catalogAsKafka stands in for the catalog projection: the last snapshot
// of every product.
func catalogAsKafka(obs chaos.Observed) map[string]schemas.StockSnapshot {
	last := map[string]schemas.StockSnapshot{}
	for _, s := range obs.Stock {
		if s.Version >= last[s.ProductID].Version {
			last[s.ProductID] = s
		}
	}
	return last
}
