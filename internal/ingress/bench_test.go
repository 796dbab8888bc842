package ingress

import (
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/loadgen"
	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// BenchmarkIngressVsBare drives the ingress (real Kafka and Redis from the
// environment) and, in the same run, a bare net/http handler that answers
// 202 with no work, with the same fixed-concurrency load from
// internal/loadgen, and reports accepted orders/s and latency percentiles of
// both. Set BENCH_REQUESTS / BENCH_CONCURRENCY to change the load.
func BenchmarkIngressVsBare(b *testing.B) {
	b.ReportAllocs()
	if os.Getenv("KAFKA_BROKERS") == "" || os.Getenv("REDIS_URL") == "" {
		b.Skip("needs real Kafka and Redis (KAFKA_BROKERS, REDIS_URL)")
	}
	requests := envInt("BENCH_REQUESTS", 200000)
	conc := envInt("BENCH_CONCURRENCY", 64)
	k := testenv.Kafka(b).Config
	k.OrderPartitions = 12
	svctest.ApplyTopics(b, k)
	cfg := testConfig(k, redisConfig(testenv.Redis(b)))
	h := startIngress(b, cfg)

	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := &http.Server{Handler: loadgen.BareHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = bare.Serve(ln) }()
	defer func() { _ = bare.Close() }()

	run := func(url string) loadgen.Result {
		res, err := loadgen.Run(context.Background(), loadgen.Config{URL: url, Mode: loadgen.ModeConcurrency, Concurrency: conc,
			Requests: requests, Duration: 2 * time.Minute, Products: 10000, Skew: 1.1, Customers: 100000, Seed: uint64(time.Now().UnixNano())})
		if err != nil {
			b.Fatal(err)
		}
		res.Summary(os.Stderr, loadgen.Config{URL: url, Mode: loadgen.ModeConcurrency, Concurrency: conc})
		return res
	}
	for b.Loop() {
		base := run("http://" + ln.Addr().String())
		got := run(h.url)
		rate := float64(got.Accepted()) / got.Elapsed.Seconds()
		ceiling := float64(base.Accepted()) / base.Elapsed.Seconds()
		b.ReportMetric(rate, "orders/s")
		b.ReportMetric(ceiling, "bare-req/s")
		b.ReportMetric(100*rate/ceiling, "%-of-bare")
		b.ReportMetric(float64(got.Quantile(50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(got.Quantile(99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(base.Quantile(99).Microseconds())/1000, "bare-p99-ms")
		if got.Accepted() != int64(requests) {
			b.Errorf("%d of %d accepted: %v", got.Accepted(), requests, got.ByStatus)
		}
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
