package e2e_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// BenchmarkOrdersEndToEnd measures the whole pipeline: HTTP POST to the
// ingress → orders.requests.v1 → order saga → inventory → OrderConfirmed →
// the CONFIRMED row in PostgreSQL, with 3 lines per order. The ingress, the
// inventory-processor and the order-processor run as their own processes
// (built without -race); the load comes from this process.
//
// b.N is the number of measured orders: run it with -benchtime=Nx, e.g.
//
//	go test -run '^$' -bench OrdersEndToEnd -benchtime 50000x ./internal/orders/e2e/
//
// Sub-benchmarks: max (closed loop, BENCH_CONCURRENCY clients, default 256:
// orders/s from the first POST to the last CONFIRMED row) and rate (open
// model at BENCH_RATE orders/s, default 5000: end-to-end latency from each
// order's scheduled send to its CONFIRMED row), each over 10,000 products
// (hot=0) and over 5 products (hot=1, a doorbuster). BENCH_PARTITIONS sets
// the partition counts (default 6).
func BenchmarkOrdersEndToEnd(b *testing.B) {
	for _, hot := range []bool{false, true} {
		for _, mode := range []string{"max", "rate"} {
			b.Run(fmt.Sprintf("%s/hot=%d", mode, btoi(hot)), func(b *testing.B) {
				if b.N == 1 {
					return // the framework's probe run: the pipeline starts only for the real N
				}
				bp := newBenchPipeline(b, hot)
				bp.warmUp(min(2000, b.N/5))
				var res benchResult
				b.ResetTimer()
				if mode == "max" {
					res = bp.closedLoop(b.N, envInt("BENCH_CONCURRENCY", 256))
				} else {
					res = bp.openLoop(b.N, float64(envInt("BENCH_RATE", 5000)))
				}
				b.StopTimer()
				res.report(b)
			})
		}
	}
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// benchPipeline is the pipeline as three processes.
type benchPipeline struct {
	b        *testing.B
	hot      bool
	products []string
	url      string
	metrics  []string // the processes' /metrics URLs
	procs    map[string]*svctest.Procs
	cpu0     map[string]float64 // CPU seconds at the start of the measured run
	rejected atomic.Int64       // non-2xx answers (503/429 under overload), retried
	pool     *pgxpool.Pool
	seq      atomic.Int64
	client   *http.Client
}

func newBenchPipeline(b *testing.B, hot bool) *benchPipeline {
	b.Helper()
	k := testenv.Kafka(b)
	parts := envInt("BENCH_PARTITIONS", 6)
	k.Config.OrderPartitions, k.Config.ProductPartitions = parts, parts
	dsn := testenv.Postgres(b)
	r := testenv.Redis(b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := kafka.Apply(ctx, k.Client(b), kafka.Spec(k.Config, kafka.SpecOptions{}), io.Discard); err != nil {
		b.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	bp := &benchPipeline{b: b, hot: hot, pool: pool,
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 4096, MaxConnsPerHost: 4096}}}

	// Catalog and stock: enough of everything that every order confirms.
	n := 10000
	prefix := "p-"
	if hot {
		n, prefix = 5, "hot-"
	}
	var rs []*kgo.Record
	for i := 0; i < n; i++ {
		id := prefix + strconv.Itoa(i)
		bp.products = append(bp.products, id)
		stock := int64(1 << 40)
		rs = append(rs,
			&kgo.Record{Topic: kafka.TopicNames(k.Config.TopicPrefix).CatalogProducts, Key: []byte(id), Value: mustJSON(b, schemas.Product{
				ProductID: id, Name: id, CategoryID: "bench", Price: schemas.Money{Amount: int64(100 + i%5000), Currency: "USD"},
				Active: true, Version: 1, UpdatedAt: time.Now()})},
			&kgo.Record{Topic: kafka.TopicNames(k.Config.TopicPrefix).InventoryCommands, Key: []byte(id), Value: mustJSON(b, schemas.InventoryCommand{
				Type: schemas.CmdAdjust, ProductID: id, AdjustmentID: "initial-" + id, Absolute: &stock, IssuedAt: time.Now()})})
	}
	cl, err := kafka.NewProducer(k.Config, nil, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		b.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	cl.Close()

	ports := freePorts(b, 3)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"KAFKA_BROKERS=" + strings.Join(k.Config.Brokers, ","),
		"TOPIC_PREFIX=" + k.Config.TopicPrefix,
		"PRODUCT_PARTITIONS=" + strconv.Itoa(parts),
		"ORDER_PARTITIONS=" + strconv.Itoa(parts),
		"KAFKA_REPLICATION_FACTOR=" + strconv.Itoa(k.Config.ReplicationFactor),
		"KAFKA_MIN_INSYNC_REPLICAS=" + strconv.Itoa(k.Config.MinInsyncReplicas),
		"DATABASE_URL=" + dsn,
		"REDIS_URL=" + r.URL,
		"REDIS_KEY_PREFIX=" + r.Prefix,
		"LOG_LEVEL=warn",
		"LOG_FORMAT=text",
		"OTEL_TRACES_SAMPLER_ARG=0",
	}
	extra := strings.Fields(os.Getenv("BENCH_ENV")) // e.g. BENCH_ENV="STREAMS_COMMIT_INTERVAL=50ms"
	bp.procs = map[string]*svctest.Procs{}
	start := func(name, slot string, port int, more ...string) {
		ps := newProcesses(b, svctest.Binary(b, name), env)
		bp.procs[name] = ps
		ps.Start(slot, append(append([]string{"HTTP_ADDR=127.0.0.1:" + strconv.Itoa(port)}, more...), extra...)...)
		svctest.WaitReady(b, fmt.Sprintf("http://127.0.0.1:%d/health/ready", port), 2*time.Minute)
	}
	// The processors run with the chart's GC setting (decision 0029);
	// BENCH_ENV="GOGC=100" measures the Go default instead.
	start("inventory-processor", "inventory-0", ports[0], "GOGC=400")
	start("order-processor", "order-0", ports[1], "DATABASE_MAX_CONNS=8", "GOGC=400")
	start("ingress", "ingress-0", ports[2], "RATE_LIMIT_SCOPE_RPS=0", "PRODUCE_MAX_IN_FLIGHT=65536")
	bp.url = fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	for _, p := range ports[:2] {
		bp.metrics = append(bp.metrics, fmt.Sprintf("http://127.0.0.1:%d/metrics", p))
	}
	if os.Getenv("BENCH_VERBOSE") != "" {
		ctx, stop := context.WithCancel(context.Background())
		b.Cleanup(stop)
		go bp.watchLag(ctx)
	}
	return bp
}

// watchLag logs the processors' consumer lag per group every 2 s: which
// stage the backlog is in.
func (bp *benchPipeline) watchLag(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		lag := map[string]float64{}
		for _, u := range bp.metrics {
			req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			for _, line := range strings.Split(string(body), "\n") {
				if !strings.HasPrefix(line, "orderpipe_streams_lag_records{") && !strings.HasPrefix(line, "orderpipe_consumer_lag_records{") {
					continue
				}
				i, j := strings.Index(line, `group="`), strings.LastIndexByte(line, ' ')
				if i < 0 || j < 0 {
					continue
				}
				g := line[i+7:]
				g = g[:strings.IndexByte(g, '"')]
				g = g[strings.LastIndexByte(g, '.')+1:]
				v, _ := strconv.ParseFloat(line[j+1:], 64)
				lag[g] += v
			}
		}
		load, _ := os.ReadFile("/proc/loadavg")
		bp.b.Logf("lag %v; confirmed-ready orders sent %d; loadavg %s", lag, bp.seq.Load(), strings.Fields(string(load))[0])
	}
}

func freePorts(t testing.TB, n int) []int {
	var out []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		var lc net.ListenConfig
		l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return out
}

// benchOrder is one order of the run.
type benchOrder struct {
	id   string
	sent time.Time // scheduled (open model) or actual (closed) send time
	ok   time.Time // the 2xx answer
}

// nextOrder builds an order with 3 lines on distinct products.
func (bp *benchPipeline) nextOrder(rnd *rand.Rand) (key, customer, body string) {
	i := bp.seq.Add(1)
	key = "bench-" + strconv.FormatInt(i, 10)
	customer = "cust-" + strconv.Itoa(int(i%100000))
	var picks [3]string
	for j := 0; j < 3; j++ {
	again:
		p := bp.products[rnd.IntN(len(bp.products))]
		for _, q := range picks[:j] {
			if q == p {
				goto again
			}
		}
		picks[j] = p
	}
	body = `{"customerId":"` + customer + `","currency":"USD","shippingAddress":{"addressLine1":"1 Main St","city":"Springfield","stateOrProvince":"IL","postalCode":"62701","country":"US"},"lines":[` +
		`{"productId":"` + picks[0] + `","quantity":1},{"productId":"` + picks[1] + `","quantity":2},{"productId":"` + picks[2] + `","quantity":1}]}`
	return key, customer, body
}

// send POSTs one order until it is accepted, as a well-behaved client
// does: 503 and 429 are retried after their Retry-After (at most 1 s),
// anything else after 50 ms, for up to 3 minutes.
func (bp *benchPipeline) send(o *benchOrder, key, body string) {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", bp.url+"/api/v1/orders", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := bp.client.Do(req)
		pause := 50 * time.Millisecond
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusCreated {
				o.ok = time.Now()
				return
			}
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				pause = time.Second
			}
			bp.rejected.Add(1)
		}
		time.Sleep(pause)
	}
	bp.b.Errorf("order %s was never accepted", key)
}

func (bp *benchPipeline) warmUp(n int) {
	bp.closedLoop(n, 64)
}

// cpuSeconds returns the CPU time (user + system) each service process and
// this process (the load generator) have used so far.
func (bp *benchPipeline) cpuSeconds() map[string]float64 {
	out := map[string]float64{"load generator": procCPU("self")}
	for name, ps := range bp.procs {
		for _, pid := range ps.PIDs() {
			out[name] += procCPU(strconv.Itoa(pid))
		}
	}
	// The servers, when BENCH_PIDS names them ("kafka=123,postgres=456,redis=789";
	// a process's children count too: PostgreSQL's backends).
	for _, kv := range strings.Split(os.Getenv("BENCH_PIDS"), ",") {
		if name, pid, ok := strings.Cut(kv, "="); ok {
			out[name] += procCPU(pid)
			for _, child := range childPIDs(pid) {
				out[name] += procCPU(child)
			}
		}
	}
	return out
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == pid {
			out = append(out, e.Name())
		}
	}
	return out
}

// procCPU reads utime+stime of /proc/<pid>/stat (clock ticks of 10ms).
func procCPU(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}

// closedLoop sends n orders from c clients as fast as they are answered.
func (bp *benchPipeline) closedLoop(n, c int) benchResult {
	orders := make([]benchOrder, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	bp.cpu0 = bp.cpuSeconds()
	start := time.Now()
	for g := 0; g < c; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(g), uint64(start.UnixNano())))
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				key, customer, body := bp.nextOrder(rnd)
				o := &orders[i]
				o.id, o.sent = schemas.OrderID(customer, key), time.Now()
				bp.send(o, key, body)
			}
		}()
	}
	wg.Wait()
	return bp.collect("closed loop, "+strconv.Itoa(c)+" clients", orders, start)
}

// openLoop sends n orders at rate per second whatever the answers' pace
// (latency counts from each order's scheduled time, so a stall is not
// hidden by the load easing off).
func (bp *benchPipeline) openLoop(n int, rate float64) benchResult {
	orders := make([]benchOrder, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8192)
	rnd := rand.New(rand.NewPCG(1, 2))
	bp.cpu0 = bp.cpuSeconds()
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		key, customer, body := bp.nextOrder(rnd)
		o := &orders[i]
		o.id, o.sent = schemas.OrderID(customer, key), due
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			bp.send(o, key, body)
		}()
	}
	wg.Wait()
	return bp.collect(fmt.Sprintf("open model at %.0f/s", rate), orders, start)
}

// collect waits until every order of the run is CONFIRMED in PostgreSQL and
// measures.
func (bp *benchPipeline) collect(how string, orders []benchOrder, start time.Time) benchResult {
	b := bp.b
	sentDone := time.Now()
	ids := make([]string, len(orders))
	for i := range orders {
		ids[i] = orders[i].id
	}
	want := bp.seq.Load() // every order sent so far (warm-up included) confirms
	deadline := time.Now().Add(time.Duration(max(len(orders)/50, 120)) * time.Second)
	for {
		var n int64
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := bp.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE status = 'CONFIRMED'`).Scan(&n)
		cancel()
		if err == nil && n >= want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d orders CONFIRMED in PostgreSQL by the deadline (%v)", n, want, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	persisted := map[string]time.Time{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := bp.pool.Query(ctx, `SELECT order_id::text, persisted_at FROM orders WHERE status = 'CONFIRMED' AND order_id = ANY($1::uuid[])`, ids)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			b.Fatal(err)
		}
		persisted[id] = at
	}
	rows.Close()
	if len(persisted) != len(orders) {
		b.Fatalf("%d of the run's %d orders are CONFIRMED", len(persisted), len(orders))
	}
	res := benchResult{how: how, n: len(orders), start: start, sentDone: sentDone, cpu: map[string]float64{}, retried: bp.rejected.Swap(0)}
	for name, sec := range bp.cpuSeconds() {
		res.cpu[name] = (sec - bp.cpu0[name]) / float64(len(orders)) * 1e6 // µs per order
	}
	for _, o := range orders {
		at := persisted[o.id]
		res.lat = append(res.lat, at.Sub(o.sent))
		res.accept = append(res.accept, o.ok.Sub(o.sent))
		if at.After(res.last) {
			res.last = at
		}
	}
	return res
}

type benchResult struct {
	how                   string
	n                     int
	start, sentDone, last time.Time
	lat, accept           []time.Duration
	cpu                   map[string]float64 // µs of CPU per order, by process
	retried               int64
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func (r benchResult) report(b *testing.B) {
	e2e := r.last.Sub(r.start).Seconds()
	b.ReportMetric(float64(r.n)/e2e, "orders/s")
	b.ReportMetric(float64(r.n)/r.sentDone.Sub(r.start).Seconds(), "accepted/s")
	b.ReportMetric(pct(r.lat, 0.5).Seconds()*1000, "p50-ms")
	b.ReportMetric(pct(r.lat, 0.99).Seconds()*1000, "p99-ms")
	b.ReportMetric(pct(r.accept, 0.99).Seconds()*1000, "p99-accept-ms")
	b.ReportMetric(0, "ns/op")
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("%s: %d orders (3 lines each) confirmed in PostgreSQL in %.1fs = %.0f orders/s end to end; accepted at %.0f/s; "+
		"e2e latency p50 %s p90 %s p99 %s max %s; 202 latency p50 %s p99 %s; loadavg %s",
		r.how, r.n, e2e, float64(r.n)/e2e, float64(r.n)/r.sentDone.Sub(r.start).Seconds(),
		pct(r.lat, 0.5).Round(time.Millisecond), pct(r.lat, 0.9).Round(time.Millisecond), pct(r.lat, 0.99).Round(time.Millisecond),
		pct(r.lat, 1).Round(time.Millisecond), pct(r.accept, 0.5).Round(time.Millisecond), pct(r.accept, 0.99).Round(time.Millisecond),
		strings.TrimSpace(string(load)))
	b.Logf("CPU per order (µs, includes the wait for the last confirmation): %v; non-2xx answers retried: %d", r.cpu, r.retried)
}
