package catalog

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gorilla/mux"

	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// BenchmarkReads measures product-detail and listing reads/s and latency
// percentiles at a fixed concurrency through real HTTP (loopback, keep-alive)
// against catalog-api served by app.Run (the production router and
// middleware), with the L1 on (every read a hit) and off (every read goes to
// Redis), and, in the same run, a bare net/http handler answering the same
// bytes: the ceiling of this machine's HTTP stack. Needs REDIS_URL; the
// projection is written straight into Redis. BENCH_REQUESTS and
// BENCH_CONCURRENCY change the load; run it once per case:
//
//	go test -run '^$' -bench BenchmarkReads -benchtime 1x ./internal/catalog/
func BenchmarkReads(b *testing.B) {
	if os.Getenv("REDIS_URL") == "" {
		b.Skip("needs a real Redis (REDIS_URL)")
	}
	requests := envInt("BENCH_REQUESTS", 200000) // per target, split over the rounds
	rounds := envInt("BENCH_ROUNDS", 5)
	conc := envInt("BENCH_CONCURRENCY", 64)
	re := testenv.Redis(b)
	rc := config.Redis{URL: re.URL, KeyPrefix: re.Prefix}
	seedRedis(b, rc, 1000)

	// No Kafka is contacted: the projector is off and nothing is produced.
	kc := config.Kafka{Brokers: []string{"127.0.0.1:9"}, ClientID: "bench", OrderPartitions: 12, ProductPartitions: 12, ReplicationFactor: 1, MinInsyncReplicas: 1}
	cfg := testConfig(kc, rc)
	cfg.Projector = false
	cfg.L1TTL, cfg.L1StaleTTL = time.Hour, time.Hour
	hit := startCatalog(b, cfg)
	cfg.L1Size = 0
	miss := startCatalog(b, cfg)

	detail := make([]string, 1000)
	for i := range detail {
		detail[i] = fmt.Sprintf("/api/v1/products/prod-%05d", i+1)
	}
	var listing []string
	for c := range 10 {
		listing = append(listing, fmt.Sprintf("/api/v1/products?categoryId=cat-%d&pageSize=20", c))
	}
	bodies := fetchBodies(b, hit, append(append([]string(nil), detail...), listing...))
	bare := startBare(b, bodies)
	chain := startChainOnly(b, bodies)

	for _, kind := range []struct {
		name  string
		paths []string
	}{{"detail", detail}, {"listing", listing}} {
		b.Run(kind.name, func(b *testing.B) {
			for b.Loop() {
				if only := os.Getenv("BENCH_ONLY"); only != "" { // for profiling one target
					target := map[string]string{"hit": hit.url, "miss": miss.url, "bare": bare, "chain": chain}[only]
					r := drive(b, target, kind.paths, requests, conc)
					fmt.Fprintf(os.Stderr, "%s only: %.0f/s p99 %.2f ms\n", only, r.rate, r.p99)
					continue
				}
				// Rounds interleave the targets and the medians are reported:
				// on a shared machine the load of the moment moves every
				// target, and a single back-to-back comparison is noise.
				var ceilings, l1s, chains, misses []driveResult
				for range rounds {
					ceilings = append(ceilings, drive(b, bare, kind.paths, requests/rounds, conc))
					l1s = append(l1s, drive(b, hit.url, kind.paths, requests/rounds, conc))
					chains = append(chains, drive(b, chain, kind.paths, requests/rounds, conc))
					misses = append(misses, drive(b, miss.url, kind.paths, requests/rounds/4, conc))
				}
				ceiling, l1, withChain, redis := median(ceilings), median(l1s), median(chains), median(misses)
				b.ReportMetric(l1.rate, "l1-hit-reads/s")
				b.ReportMetric(l1.p99, "l1-hit-p99-ms")
				b.ReportMetric(redis.rate, "l1-miss-reads/s")
				b.ReportMetric(redis.p99, "l1-miss-p99-ms")
				b.ReportMetric(ceiling.rate, "bare-reads/s")
				b.ReportMetric(ceiling.p99, "bare-p99-ms")
				b.ReportMetric(100*l1.rate/ceiling.rate, "l1-hit-%-of-bare")
				b.ReportMetric(withChain.rate, "chain-only-reads/s")
				b.ReportMetric(l1.cpu, "l1-hit-cpu-us/read")
				b.ReportMetric(ceiling.cpu, "bare-cpu-us/read")
				fmt.Fprintf(os.Stderr, "%s, concurrency %d, median of %d rounds (load average %s):\n", kind.name, conc, rounds, loadAverage())
				for _, r := range []struct {
					name string
					d    driveResult
				}{{"L1 hit", l1}, {"L1 miss (Redis)", redis}, {"same bytes behind app.Run's router+middleware", withChain}, {"bare net/http handler", ceiling}} {
					fmt.Fprintf(os.Stderr, "  %-48s %8.0f reads/s  p50 %6.2f ms  p99 %6.2f ms  %5.1f µs CPU/read  rate %3.0f%% of bare  CPU %3.0f%% of bare's\n",
						r.name, r.d.rate, r.d.p50, r.d.p99, r.d.cpu, 100*r.d.rate/ceiling.rate, 100*r.d.cpu/ceiling.cpu)
				}
			}
		})
	}
}

// seedRedis writes n products (and stock) straight into the projection, in
// ten categories.
func seedRedis(b *testing.B, rc config.Redis, n int) {
	b.Helper()
	rdb := redisClientFor(b, rc)
	store := NewStore(rdb, rc.KeyPrefix)
	var changes []Change
	for i := range n {
		p := schemas.Product{ProductID: fmt.Sprintf("prod-%05d", i+1), SKU: fmt.Sprintf("SKU-%05d", i+1),
			Name: fmt.Sprintf("Benchmark Product %d", i+1), Description: "A product of the read benchmark, with a description of ordinary length for a catalog.",
			CategoryID: fmt.Sprintf("cat-%d", i%10), Price: schemas.Money{Amount: int64(999 + i), Currency: "USD"}, Active: true, Version: 1,
			UpdatedAt: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)}
		s := schemas.StockSnapshot{ProductID: p.ProductID, OnHand: 100, Available: 100, Version: 1}
		changes = append(changes, Change{ProductID: p.ProductID, Product: &p}, Change{ProductID: p.ProductID, Stock: &s})
	}
	if _, err := store.Apply(context.Background(), changes); err != nil {
		b.Fatal(err)
	}
}

// fetchBodies returns what catalog-api answers for each path.
func fetchBodies(b *testing.B, h *harness, paths []string) map[string][]byte {
	b.Helper()
	bodies := map[string][]byte{}
	for _, p := range paths {
		got := h.get(p)
		if got.Status != 200 {
			b.Fatalf("GET %s: %d %s", p, got.Status, got.Raw)
		}
		bodies[p] = got.Raw
	}
	return bodies
}

func bytesHandler(bodies map[string][]byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := bodies[r.URL.RequestURI()]
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}
}

// startBare serves the same bytes from a bare net/http handler: the ceiling.
func startBare(b *testing.B, bodies map[string][]byte) string {
	b.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: bytesHandler(bodies)}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// startChainOnly serves the same bytes from a handler mounted in app.Run
// (the shared router, middleware and server settings every service gets):
// what the catalog would cost if its own work were free.
func startChainOnly(b *testing.B, bodies map[string][]byte) string {
	b.Helper()
	common := app.Common{
		HTTP: config.HTTP{Addr: "127.0.0.1:0", ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, DrainTimeout: 5 * time.Second},
		Log: config.Log{Level: "error", Format: "text"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = app.Run(ctx, "chain-only", common, func(context.Context, *app.Env) (app.Service, error) {
			return bytesService{bytesHandler(bodies)}, nil
		}, app.Options{LogOutput: io.Discard, Ready: func(addr string) { ready <- addr }})
	}()
	b.Cleanup(func() { cancel(); <-done })
	return "http://" + <-ready
}

type bytesService struct{ h http.HandlerFunc }

func (s bytesService) Routes(r *mux.Router) {
	r.HandleFunc("/api/v1/products/{id}", s.h).Methods("GET", "HEAD")
	r.HandleFunc("/api/v1/products", s.h).Methods("GET", "HEAD")
}
func (bytesService) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (bytesService) Close(context.Context) error   { return nil }

// driveResult is one load run: reads/s, latency percentiles (ms) and the
// CPU time the whole process (load generator and servers) spent per read
// (µs). On a shared machine the rate moves with everyone else's load; CPU
// per read much less, and the load generator's share is the same for
// every target, so comparing it tells what a target costs.
type driveResult struct{ rate, p50, p99, cpu float64 }

// median returns the round with the median rate (its own percentiles).
func median(rs []driveResult) driveResult {
	sorted := append([]driveResult(nil), rs...)
	slices.SortFunc(sorted, func(a, b driveResult) int { return cmp.Compare(a.rate, b.rate) })
	return sorted[len(sorted)/2]
}

// drive sends n GETs from conc keep-alive connections back to back, cycling
// through paths, and returns the rate and latency percentiles (ms). The
// client is a minimal HTTP/1.1 one (like wrk's), so the load generator,
// which shares the machine, costs as little CPU as it can. Every answer
// must be 200.
func drive(b *testing.B, base string, paths []string, n, conc int) driveResult {
	b.Helper()
	host := strings.TrimPrefix(base, "http://")
	reqs := make([][]byte, len(paths))
	for i, p := range paths {
		reqs[i] = []byte("GET " + p + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: catalog-bench\r\n\r\n")
	}
	var next atomic.Int64
	hists := make([]*hdrhistogram.Histogram, conc)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	cpu0 := processCPU()
	start := time.Now()
	for w := range conc {
		hists[w] = hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
		wg.Go(func() {
			var d net.Dialer
			conn, err := d.DialContext(context.Background(), "tcp", host)
			if err != nil {
				errs <- err
				return
			}
			defer func() { _ = conn.Close() }()
			br := bufio.NewReaderSize(conn, 64<<10)
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t0 := time.Now()
				if _, err := conn.Write(reqs[int(i)%len(reqs)]); err != nil {
					errs <- err
					return
				}
				if err := readResponse(br); err != nil {
					errs <- fmt.Errorf("%s: %w", paths[int(i)%len(paths)], err)
					return
				}
				_ = hists[w].RecordValue(time.Since(t0).Microseconds())
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	close(errs)
	for err := range errs {
		b.Fatalf("%s: %v", base, err)
	}
	all := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	for _, h := range hists {
		all.Merge(h)
	}
	return driveResult{rate: float64(n) / elapsed.Seconds(), p50: float64(all.ValueAtQuantile(50)) / 1000, p99: float64(all.ValueAtQuantile(99)) / 1000,
		cpu: float64(cpu.Microseconds()) / float64(n)}
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// processCPU is the user + system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readResponse reads one HTTP/1.1 response with a Content-Length body and
// fails unless its status is 200.
func readResponse(br *bufio.Reader) error {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status %q", bytes.TrimSpace(status))
	}
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(line[15:]))); err != nil {
				return err
			}
		}
	}
	if length < 0 {
		return errors.New("no Content-Length")
	}
	_, err = br.Discard(length)
	return err
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
