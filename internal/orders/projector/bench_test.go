package projector

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// cpuTime is this process's CPU time so far (user + system): the writing
// side's cost (the order-processor's), Redis' own not included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWrite measures the projector's Redis write of one poll (4,096
// orders, each a newer version than the stored one, so every write lands)
// on real Redis: one EVALSHA per order, 16 at once (how the projector wrote
// before) against pipelines of EVALSHA (how it writes now), same Redis, same
// run. Reported as orders/s and the writing process's CPU per order.
//
//	set -a; . .local/<you>/env; set +a
//	go test -run '^$' -bench Write -benchtime 50x ./internal/orders/projector/
func BenchmarkWrite(b *testing.B) {
	const perPoll = 4096
	r := testenv.Redis(b)
	k := testenv.Kafka(b) // the projector's consumer is built (it never polls here)
	opts, err := redis.ParseURL(r.URL)
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	b.Cleanup(func() { _ = rdb.Close() })
	views := make([]orderview.View, perPoll)
	for i := range views {
		views[i] = orderview.FromState(schemas.OrderState{OrderID: schemas.OrderID("bench", strconv.Itoa(i)), Status: schemas.StatusConfirmed,
			CustomerID: "c-" + strconv.Itoa(i%100), Currency: "USD", Lines: []schemas.Line{{ProductID: "p-1", Quantity: 1}, {ProductID: "p-2", Quantity: 2}, {ProductID: "p-3", Quantity: 3}},
			Total: &schemas.Money{Amount: 1500, Currency: "USD"}, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	}
	version := int64(0)
	next := func() []orderview.View {
		version++
		for i := range views {
			views[i].Version = version
		}
		return views
	}
	run := func(b *testing.B, write func(ctx context.Context, vs []orderview.View) error) {
		ctx := context.Background()
		if err := write(ctx, next()); err != nil { // script loaded, keys exist
			b.Fatal(err)
		}
		cpu0 := cpuTime()
		b.ResetTimer()
		for range b.N {
			if err := write(ctx, next()); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N*perPoll)/b.Elapsed().Seconds(), "orders/s")
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*perPoll), "client-µs-cpu/order")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("evalsha-each-16", func(b *testing.B) {
		run(b, func(ctx context.Context, vs []orderview.View) error {
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(16)
			for _, v := range vs {
				g.Go(func() error { _, err := orderview.Write(gctx, rdb, r.Prefix, v, 0); return err })
			}
			return g.Wait()
		})
	})
	for _, c := range []struct{ pipeline, concurrency int }{{4096, 1}, {512, 4}, {256, 4}, {128, 8}} {
		b.Run(fmt.Sprintf("pipeline-%d-x%d", c.pipeline, c.concurrency), func(b *testing.B) {
			p, err := New(Config{Kafka: k.Config, KeyPrefix: r.Prefix, Pipeline: c.pipeline, Concurrency: c.concurrency}, rdb, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(p.Close)
			run(b, p.write)
		})
	}
}
