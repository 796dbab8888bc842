package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/orderpipe/orderpipe/internal/catalog"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/localstack"
)

// Config is one chaos run.
type Config struct {
	Root      string // repo root
	Dir       string // the stack's directory (wiped and reused); binaries and logs go under it
	Out       io.Writer
	KeepStack bool // leave the servers running after the run (for inspection)

	Workload  Workload
	Schedule  Schedule
	Instances map[string]int // per service

	Products       int   // catalog size
	Scarce         int   // the first Scarce products are scarce
	ScarceStock    int64 // initial stock of a scarce product
	PlentyStock    int64
	Partitions     int
	DrainTimeout   time.Duration // after traffic, how long the pipeline may take to settle
	KafkaHeapMB    int
	ProgressPeriod time.Duration
}

// Bounded is the CI run: about 3 minutes of traffic, ≥ 30k keys, every
// fault class at least once.
func Bounded() Config {
	return Config{
		Dir: ".local/chaos",
		Workload: Workload{Duration: 180 * time.Second, Rate: 110, BurstFactor: 20, BurstAt: 70 * time.Second, BurstRamp: 3 * time.Second,
			BurstFor: 12 * time.Second, Triple: 0.08, Retry: 0.1, Changed: 0.04, Cancel: 0.05, Timeout: 3 * time.Second,
			GiveUp: 90 * time.Second, MaxInFlight: 5000, Customers: 500, Seed: 1},
		Schedule: Schedule{KillEvery: 9 * time.Second, KillDown: 5 * time.Second, KillFrom: 8 * time.Second, KillUntil: 165 * time.Second,
			ControllerAt: 30 * time.Second, LeaderAt: 88 * time.Second, RestartAt: 140 * time.Second, BrokerDown: 8 * time.Second,
			PostgresAt: 50 * time.Second, PostgresDown: 8 * time.Second, RedisAt: 115 * time.Second, RedisDown: 6 * time.Second,
			KillServices: []string{"order-processor", "inventory-processor", "ingress"}},
		Instances: map[string]int{"ingress": 2, "catalog-api": 1, "inventory-processor": 2, "order-processor": 2},
		Products:  40, Scarce: 8, ScarceStock: 150, PlentyStock: 10_000_000, Partitions: 12,
		DrainTimeout: 6 * time.Minute, KafkaHeapMB: 512, ProgressPeriod: 5 * time.Second,
	}
}

// Result is a run's outcome.
type Result struct {
	Report     Report
	Faults     []Fault
	Crashes    []string
	Client     *ClientStats
	Lag        LagStats
	Unexpected []string // answers no correct pipeline gives
	Missing    []string // fault classes never injected
	Traffic    time.Duration
	Settle     time.Duration // traffic end → the pipeline settled
	Load       string        // /proc/loadavg at the end of traffic
}

// OK reports a clean run.
func (r *Result) OK() bool {
	return r.Report.OK() && len(r.Crashes) == 0 && r.Client.Unexpected.Load() == 0 && len(r.Missing) == 0 && r.faultErrors() == 0
}

func (r *Result) faultErrors() int {
	n := 0
	for _, f := range r.Faults {
		if f.Err != "" {
			n++
		}
	}
	return n
}

// Run starts the stack and the fleet, drives traffic while injecting the
// schedule's faults, lets the pipeline settle and verifies it. Everything
// it started is stopped before it returns, however it ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	out := cfg.Out
	dir := cfg.Dir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cfg.Root, dir)
	}
	binDir, logDir := filepath.Join(dir, "bin"), filepath.Join(dir, "logs")
	for _, d := range []string{binDir, logDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	say(out, "chaos: building the services and starting a 3-broker Kafka, PostgreSQL and Redis in %s\n", dir)
	var stack *localstack.Stack
	var errStack, errBuild error
	var wg sync.WaitGroup
	wg.Go(func() {
		stack, errStack = localstack.Up(ctx, localstack.StackOptions{Dir: filepath.Join(dir, "stack"), Root: cfg.Root,
			KafkaBrokers: 3, KafkaHeapMB: cfg.KafkaHeapMB, Out: out})
	})
	wg.Go(func() { errBuild = Build(ctx, cfg.Root, binDir) })
	wg.Wait()
	if stack != nil && !cfg.KeepStack {
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := stack.Down(dctx); err != nil {
				say(out, "chaos: stack down: %v\n", err)
			}
		}()
	}
	if err := errors.Join(errStack, errBuild); err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, out: out, stack: stack, kc: config.Kafka{Brokers: strings.Split(stack.Env()["KAFKA_BROKERS"], ","),
		ClientID: "orderpipe-chaos", OrderPartitions: cfg.Partitions, ProductPartitions: cfg.Partitions, ReplicationFactor: 3, MinInsyncReplicas: 2}}
	fleet, err := NewFleet(binDir, logDir, cfg.Instances, h.serviceEnv())
	if err != nil {
		return nil, err
	}
	h.fleet = fleet
	defer fleet.StopAll(20 * time.Second)
	return h.run(ctx)
}

type harness struct {
	cfg   Config
	out   io.Writer
	stack *localstack.Stack
	kc    config.Kafka
	fleet *Fleet
}

func say(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }

func (h *harness) serviceEnv() []string {
	env := h.stack.Env()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"KAFKA_BROKERS=" + env["KAFKA_BROKERS"],
		"DATABASE_URL=" + env["DATABASE_URL"],
		"REDIS_URL=" + env["REDIS_URL"],
		"ORDER_PARTITIONS=" + strconv.Itoa(h.cfg.Partitions),
		"PRODUCT_PARTITIONS=" + strconv.Itoa(h.cfg.Partitions),
		"KAFKA_REPLICATION_FACTOR=3", "KAFKA_MIN_INSYNC_REPLICAS=2",
		"KAFKA_SESSION_TIMEOUT=6s", "KAFKA_TRANSACTION_TIMEOUT=10s",
		"DATABASE_MAX_CONNS=6",
		"RATE_LIMIT_SCOPE_RPS=0",
		"LOG_LEVEL=info", "LOG_FORMAT=json",
	}
}

func (h *harness) products() []Product {
	var ps []Product
	for i := range h.cfg.Products {
		p := Product{ID: fmt.Sprintf("plenty-%03d", i), Price: int64(199 + 137*i), Initial: h.cfg.PlentyStock}
		if i < h.cfg.Scarce {
			p = Product{ID: fmt.Sprintf("scarce-%03d", i), Price: int64(1999 + 250*i), Initial: h.cfg.ScarceStock}
		}
		ps = append(ps, p)
	}
	return ps
}

func (h *harness) run(ctx context.Context) (*Result, error) {
	cl, err := kafka.NewClient(h.kc, nil)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := kafka.Apply(ctx, cl, kafka.Spec(h.kc, kafka.SpecOptions{}), io.Discard); err != nil {
		return nil, fmt.Errorf("topics: %w", err)
	}
	products := h.products()
	if err := h.seed(ctx, products); err != nil {
		return nil, err
	}
	for _, s := range h.fleet.Slots {
		if err := s.Start(); err != nil {
			return nil, err
		}
	}
	for _, s := range h.fleet.Slots {
		if err := s.WaitReady(ctx, 2*time.Minute); err != nil {
			return nil, err
		}
	}
	col := Collector{Kafka: h.kc, PostgresURL: h.stack.Env()["DATABASE_URL"], RedisURL: h.stack.Env()["REDIS_URL"]}
	if err := h.waitStock(ctx, col, products); err != nil {
		return nil, err
	}
	say(h.out, "chaos: %d service instances ready, %d products seeded; traffic for %s at %.0f/s with a ×%.0f burst at %s\n",
		len(h.fleet.Slots), len(products), h.cfg.Workload.Duration, h.cfg.Workload.Rate, h.cfg.Workload.BurstFactor, h.cfg.Workload.BurstAt)

	ledger := &Ledger{Products: products}
	var ingress []string
	for _, s := range h.fleet.Of("ingress") {
		ingress = append(ingress, "http://"+s.Addr)
	}
	client := &Client{W: h.cfg.Workload, Ingress: ingress, Products: products, Scarce: h.cfg.Scarce, Ledger: ledger,
		RunID: fmt.Sprintf("chaos-%d", time.Now().Unix())}
	start := time.Now()
	sched := h.cfg.Schedule
	sched.BusiestTopic = kafka.TopicNames(h.kc.TopicPrefix).OrderRequests
	inj := &injector{s: sched, stack: h.stack, fleet: h.fleet, adm: adm, cl: cl, start: start, log: h.out,
		rnd: rand.New(rand.NewPCG(h.cfg.Workload.Seed, 2))} //nolint:gosec // G404: fault timing, not secrets
	lag := &lagSampler{adm: adm, start: start, groups: groups(h.kc.TopicPrefix)}

	trafficCtx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	var bg sync.WaitGroup
	bg.Go(func() { lag.run(trafficCtx) })
	bg.Go(func() { h.progress(trafficCtx, client, ledger, lag, inj) })
	injDone := make(chan struct{})
	go func() { inj.run(ctx); close(injDone) }()
	client.Run(ctx)
	res := &Result{Client: client.Stats, Traffic: time.Since(start), Load: loadAvg()}
	<-injDone // every fault undone
	for _, s := range h.fleet.Slots {
		if err := s.Start(); err != nil {
			return nil, err
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	say(h.out, "chaos: traffic over after %s (load average %s); waiting for the pipeline to settle\n", res.Traffic.Round(time.Second), res.Load)
	settled := time.Now()
	if err := lag.waitSettled(ctx, h.cfg.DrainTimeout); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		say(h.out, "chaos: %v\n", err)
	}
	res.Settle = time.Since(settled)
	stopTraffic()
	bg.Wait()
	res.Lag = lag.stats(h.cfg.Workload)
	res.Faults, res.Crashes = inj.Faults(), h.fleet.Crashes()
	res.Missing = missingClasses(res.Faults)
	res.Unexpected = client.Stats.Samples()
	orders := ledger.Orders()
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.OrderID
	}
	say(h.out, "chaos: verifying %d keys against every topic (read_committed), PostgreSQL and Redis\n", len(orders))
	for attempt := 0; ; attempt++ {
		obs, err := col.Collect(ctx, ids, products)
		if err != nil {
			return res, fmt.Errorf("collect: %w", err)
		}
		res.Report = Verify(products, orders, obs)
		if res.Report.OK() || attempt == 2 {
			break
		}
		say(h.out, "chaos: %d violations on attempt %d (%s); reading again in 20s in case a projection is still catching up\n",
			res.Report.Violations(), attempt+1, res.Report.String())
		time.Sleep(20 * time.Second)
	}
	return res, nil
}

func missingClasses(fs []Fault) []string {
	seen := map[string]bool{}
	for _, f := range fs {
		if f.Err == "" {
			seen[f.Class] = true
		}
	}
	var out []string
	for _, c := range FaultClasses {
		if !seen[c] {
			out = append(out, c)
		}
	}
	return out
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// seed imports the catalog with its initial stock (catalog.Import: products
// and absolute stock adjustments).
func (h *harness) seed(ctx context.Context, products []Product) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, p := range products {
		if err := enc.Encode(map[string]any{"productId": p.ID, "name": "Chaos " + p.ID, "categoryId": "chaos",
			"price": map[string]any{"amount": p.Price, "currency": Currency}, "isActive": true, "stock": p.Initial}); err != nil {
			return err
		}
	}
	sum, err := catalog.Import(ctx, h.kc, &b, catalog.ImportOptions{Format: catalog.FormatJSONL, Source: "chaos"})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if sum.Products != len(products) || sum.Adjustments != len(products) || len(sum.Bad) > 0 {
		return fmt.Errorf("seed: %+v", sum)
	}
	return nil
}

// waitStock waits until the catalog projection shows every product's
// initial stock (the inventory-processor applied the adjustments).
func (h *harness) waitStock(ctx context.Context, col Collector, products []Product) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, stock, err := col.redis(ctx, nil, products)
		ready := err == nil
		for _, p := range products {
			if s, ok := stock[p.ID]; !ok || s.OnHand != p.Initial {
				ready = false
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("seeded stock not visible in the catalog after 2 minutes: %w", errors.Join(errors.New("timeout"), err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (h *harness) progress(ctx context.Context, c *Client, l *Ledger, lag *lagSampler, inj *injector) {
	t := time.NewTicker(h.cfg.ProgressPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := c.Stats
		if s == nil {
			continue
		}
		var acked int
		orders := l.Orders()
		for _, o := range orders {
			if o.Acked.Load() {
				acked++
			}
		}
		since := time.Since(s.Start)
		last := lag.last()
		say(h.out, "chaos: t=%4.0fs rate %5.0f/s keys %6d acked %6d | 2xx %d 409 %d 422 %d 429 %d 5xx %d timeouts %d conn %d gave-up %d | lag op %d inv %d sink %d | faults %d\n",
			since.Seconds(), c.W.rateAt(since), len(orders), acked, s.Status2xx.Load(), s.Status409.Load(), s.Status422.Load(), s.Status429.Load(),
			s.Status5xx.Load(), s.Timeouts.Load(), s.ConnErrors.Load(), s.GaveUp.Load(),
			last["order-processor"], last["inventory-processor"], last["order-sink"], len(inj.Faults()))
	}
}

// Long is the long run: about 21 minutes of traffic and ≥ 300k keys, the
// same fault classes, processor kills all along.
func Long() Config {
	cfg := Scaled(Bounded(), 21*time.Minute)
	cfg.Workload.Rate = 420
	cfg.Workload.BurstFor = 15 * time.Second
	cfg.Workload.MaxInFlight = 12000
	cfg.Workload.Timeout = 8 * time.Second
	cfg.Schedule.KillEvery = 15 * time.Second
	cfg.ScarceStock = 600
	cfg.DrainTimeout = 10 * time.Minute
	return cfg
}

// Scaled stretches cfg's traffic and fault times to d.
func Scaled(cfg Config, d time.Duration) Config {
	f := float64(d) / float64(cfg.Workload.Duration)
	sc := func(t *time.Duration) { *t = time.Duration(float64(*t) * f) }
	cfg.Workload.Duration = d
	sc(&cfg.Workload.BurstAt)
	s := &cfg.Schedule
	for _, t := range []*time.Duration{&s.KillFrom, &s.KillUntil, &s.ControllerAt, &s.LeaderAt, &s.RestartAt, &s.PostgresAt, &s.RedisAt} {
		sc(t)
	}
	return cfg
}
