// Package loadgen is the load generator behind `orderpipe load`: it sends
// realistic order requests to an ingress on this machine (loopback only) at a
// constant arrival rate (open model: a request's latency counts from when it
// was due, so overload shows as latency, not as a slower client) or from a
// fixed number of concurrent workers, optionally as a retry storm (a share
// of requests resent with the same Idempotency-Key, some concurrently), and
// reports throughput, answers by status and latency percentiles from an HDR
// histogram. Every run is bounded by a request count and a duration.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// Modes.
const (
	ModeRate        = "rate"        // constant arrival rate (open model)
	ModeConcurrency = "concurrency" // fixed number of workers, each sending back to back (closed model)
)

// Config is one load run.
type Config struct {
	URL         string        // base URL of the ingress, e.g. http://127.0.0.1:8081 (loopback only)
	Mode        string        // ModeRate or ModeConcurrency
	Rate        float64       // arrivals per second (rate mode)
	Concurrency int           // workers (concurrency mode), most requests in flight (rate mode)
	Requests    int           // stop after this many orders (0 = no count bound; Duration then bounds)
	Duration    time.Duration // stop after this long
	Products    int           // distinct product ids
	Skew        float64       // Zipf exponent of product popularity (> 1; larger = more skewed)
	Customers   int           // distinct customer ids
	RetryShare  float64       // share of orders resent with the same key (retry storm), 0..1
	Concurrent  float64       // share of those resends sent concurrently with the original, 0..1
	Seed        uint64        // random seed (0 = time-based)
	Progress    io.Writer     // live progress line every second (nil = none)
	Timeout     time.Duration // per-request timeout
	// Sources are the loopback addresses requests are sent from, in turn
	// (one connection pool each), so a server sees that many clients by
	// address; empty = the system's choice (127.0.0.1).
	Sources []string
	// IDPrefix starts every customerId and Idempotency-Key (default "cust"
	// and the run's seed), so two runs against one ingress never share them.
	IDPrefix string
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if err := loopbackOnly(c.URL); err != nil {
		errs = append(errs, err)
	}
	switch c.Mode {
	case ModeRate:
		if c.Rate <= 0 {
			errs = append(errs, errors.New("rate mode needs a rate > 0"))
		}
	case ModeConcurrency:
	default:
		errs = append(errs, fmt.Errorf("mode %q: want rate or concurrency", c.Mode))
	}
	if c.Concurrency < 1 {
		errs = append(errs, errors.New("concurrency must be ≥ 1"))
	}
	if c.Duration <= 0 || c.Duration > 24*time.Hour {
		errs = append(errs, errors.New("duration must be between 0 and 24h: every run is bounded"))
	}
	if c.Requests < 0 {
		errs = append(errs, errors.New("requests must be ≥ 0"))
	}
	if c.Products < 1 || c.Customers < 1 {
		errs = append(errs, errors.New("products and customers must be ≥ 1"))
	}
	if c.Skew <= 1 {
		errs = append(errs, errors.New("skew must be > 1 (Zipf exponent)"))
	}
	if c.RetryShare < 0 || c.RetryShare > 1 || c.Concurrent < 0 || c.Concurrent > 1 {
		errs = append(errs, errors.New("retry shares must be between 0 and 1"))
	}
	for _, src := range c.Sources {
		if ip := net.ParseIP(src); ip == nil || !ip.IsLoopback() {
			errs = append(errs, fmt.Errorf("source %q: want a loopback address (127.0.0.0/8)", src))
		}
	}
	return errors.Join(errs...)
}

// loopbackOnly refuses any target that is not this machine's loopback.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want http://127.0.0.1:PORT", raw)
	}
	if config.IsLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("url %q: load is only sent to loopback addresses (127.0.0.0/8, ::1, localhost)", raw)
}

// Result is what a run measured.
type Result struct {
	Elapsed   time.Duration
	Sent      int64 // requests sent, resends included
	Orders    int64 // distinct orders (keys)
	Resends   int64
	ByStatus  map[int]int64
	Transport int64 // requests that got no HTTP answer
	Latency   *hdrhistogram.Histogram
}

// Accepted is the number of 2xx answers.
func (r Result) Accepted() int64 { return r.ByStatus[201] + r.ByStatus[202] }

type counters struct {
	sent, orders, resends, transport atomic.Int64
	status                           [600]atomic.Int64
	mu                               sync.Mutex
	hist                             *hdrhistogram.Histogram
}

func (c *counters) record(status int, d time.Duration) {
	if status <= 0 || status >= len(c.status) {
		c.transport.Add(1)
	} else {
		c.status[status].Add(1)
	}
	us := d.Microseconds()
	c.mu.Lock()
	_ = c.hist.RecordValue(max(us, 1))
	c.mu.Unlock()
}

// Run sends load until the count or the duration is reached or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	// The duration stops new orders; requests already sent finish (bounded
	// by the per-request timeout) so their answers are counted.
	reqCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	c := &counters{hist: hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)}
	run := fmt.Sprintf("%x", seed)
	if cfg.IDPrefix != "" {
		run = cfg.IDPrefix + "-" + run
	}
	s := &sender{cfg: cfg, c: c, clients: clientsFor(cfg),
		target: strings.TrimRight(cfg.URL, "/") + "/api/v1/orders", run: run, reqCtx: reqCtx}
	defer func() {
		for _, cl := range s.clients {
			cl.CloseIdleConnections()
		}
	}()
	start := time.Now()
	stopProgress := progress(cfg.Progress, c, start)
	if cfg.Mode == ModeRate {
		s.openModel(ctx, seed, start)
	} else {
		s.closedModel(ctx, seed)
	}
	elapsed := time.Since(start)
	stopProgress()
	res := Result{Elapsed: elapsed, Sent: c.sent.Load(), Orders: c.orders.Load(), Resends: c.resends.Load(),
		Transport: c.transport.Load(), ByStatus: map[int]int64{}, Latency: c.hist}
	for code := range c.status {
		if n := c.status[code].Load(); n > 0 {
			res.ByStatus[code] = n
		}
	}
	return res, nil
}

// openModel sends cfg.Rate orders per second, each due at a fixed time.
func (s *sender) openModel(ctx context.Context, seed uint64, start time.Time) {
	interval := time.Duration(float64(time.Second) / s.cfg.Rate)
	slots := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	gen := newGenerator(s.cfg, seed, 0)
	for i := 0; s.cfg.Requests == 0 || i < s.cfg.Requests; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			break
		}
		o := gen.next()
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			s.order(ctx, o, due, gen.resend(o))
		})
	}
	wg.Wait()
}

// closedModel runs cfg.Concurrency workers sending back to back.
func (s *sender) closedModel(ctx context.Context, seed uint64) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range s.cfg.Concurrency {
		gen := newGenerator(s.cfg, seed, uint64(w)+1)
		wg.Go(func() {
			for ctx.Err() == nil {
				if n := next.Add(1); s.cfg.Requests > 0 && n > int64(s.cfg.Requests) {
					return
				}
				o := gen.next()
				s.order(ctx, o, time.Now(), gen.resend(o))
			}
		})
	}
	wg.Wait()
}

// resendPlan says whether and how an order is resent with its key.
type resendPlan int

const (
	noResend resendPlan = iota
	resendAfter
	resendConcurrently
)

// order sends one order and its planned resend.
func (s *sender) order(ctx context.Context, o order, due time.Time, plan resendPlan) {
	s.c.orders.Add(1)
	switch plan {
	case resendConcurrently:
		var wg sync.WaitGroup
		s.c.resends.Add(1)
		wg.Go(func() { s.send(o, time.Now()) })
		s.send(o, due)
		wg.Wait()
	case resendAfter:
		s.send(o, due)
		if ctx.Err() == nil {
			s.c.resends.Add(1)
			s.send(o, time.Now())
		}
	default:
		s.send(o, due)
	}
}

type sender struct {
	reqCtx  context.Context // requests run under it: the caller's context, not the run's deadline
	cfg     Config
	c       *counters
	clients []*http.Client // one per source address
	next    atomic.Uint64
	target  string
	run     string
}

// clientsFor builds one HTTP client per source address (one with the
// system's choice when there are none).
func clientsFor(cfg Config) []*http.Client {
	sources := cfg.Sources
	if len(sources) == 0 {
		sources = []string{""}
	}
	per := max(2, cfg.Concurrency*2/len(sources))
	var out []*http.Client
	for _, src := range sources {
		d := &net.Dialer{Timeout: 5 * time.Second}
		if src != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		tr := &http.Transport{DialContext: d.DialContext, MaxIdleConns: per, MaxIdleConnsPerHost: per,
			DisableCompression: true, IdleConnTimeout: time.Minute}
		out = append(out, &http.Client{Transport: tr, Timeout: cfg.Timeout})
	}
	return out
}

func (s *sender) send(o order, due time.Time) {
	ctx := s.reqCtx
	if ctx.Err() != nil {
		return
	}
	s.c.sent.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target, strings.NewReader(o.body))
	if err != nil {
		s.c.record(0, time.Since(due))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", s.run+"-"+o.key)
	resp, err := s.clients[s.next.Add(1)%uint64(len(s.clients))].Do(req)
	if err != nil {
		if ctx.Err() == nil {
			s.c.record(0, time.Since(due))
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	s.c.record(resp.StatusCode, time.Since(due))
}

// order is one generated order request.
type order struct {
	key  string
	body string
}

// generator makes realistic orders: a customer, 1–5 lines (most orders
// small), products drawn with a Zipf popularity skew.
type generator struct {
	cfg    Config
	rnd    *rand.Rand
	zipf   *rand.Zipf
	seq    uint64
	id     uint64
	bodies []string
	mu     sync.Mutex
}

func newGenerator(cfg Config, seed, stream uint64) *generator {
	rnd := rand.New(rand.NewPCG(seed, stream)) //nolint:gosec // load shapes, not secrets
	return &generator{cfg: cfg, rnd: rnd, zipf: rand.NewZipf(rnd, cfg.Skew, 1, uint64(cfg.Products-1)), id: stream}
}

// lineWeights: 1 line 40 %, 2 25 %, 3 17 %, 4 11 %, 5 7 %.
var lineWeights = []float64{0.40, 0.65, 0.82, 0.93, 1}

// bodiesPerGenerator bounds the distinct bodies a generator builds; later
// orders reuse them at random (with their own keys), so the client spends
// its CPU on sending, not on formatting JSON.
const bodiesPerGenerator = 2048

func (g *generator) next() order {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seq++
	key := strconv.FormatUint(g.id, 10) + "-" + strconv.FormatUint(g.seq, 10)
	if len(g.bodies) >= bodiesPerGenerator {
		return order{key: key, body: g.bodies[g.rnd.IntN(len(g.bodies))]}
	}
	var b strings.Builder
	b.Grow(320)
	cust := g.rnd.IntN(g.cfg.Customers)
	fmt.Fprintf(&b, `{"customerId":"%s-%d","shippingAddress":{"addressLine1":"%d Main Street","city":"Springfield","stateOrProvince":"IL","postalCode":"%05d","country":"US"},"lines":[`,
		g.customerPrefix(), cust, 1+g.rnd.IntN(999), g.rnd.IntN(100000))
	r := g.rnd.Float64()
	n := 1
	for n < len(lineWeights) && r > lineWeights[n-1] {
		n++
	}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"productId":"prod-%d","quantity":%d}`, g.zipf.Uint64(), 1+int(math.Floor(g.rnd.ExpFloat64())))
	}
	b.WriteString(`],"currency":"USD"}`)
	g.bodies = append(g.bodies, b.String())
	return order{key: key, body: b.String()}
}

func (g *generator) customerPrefix() string {
	if g.cfg.IDPrefix != "" {
		return g.cfg.IDPrefix
	}
	return "cust"
}

func (g *generator) resend(order) resendPlan {
	if g.cfg.RetryShare == 0 {
		return noResend
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rnd.Float64() >= g.cfg.RetryShare {
		return noResend
	}
	if g.rnd.Float64() < g.cfg.Concurrent {
		return resendConcurrently
	}
	return resendAfter
}

// progress prints a live line every second until the returned func is called.
func progress(w io.Writer, c *counters, start time.Time) func() {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				fmt.Fprintln(w)
				return
			case <-t.C:
				sent := c.sent.Load()
				ok := c.status[202].Load() + c.status[201].Load()
				c.mu.Lock()
				p99 := time.Duration(c.hist.ValueAtQuantile(99)) * time.Microsecond
				c.mu.Unlock()
				fmt.Fprintf(w, "\r%6.0fs  sent %-9d  %7d/s  2xx %-9d  non-2xx %-7d  p99 %-9s", time.Since(start).Seconds(), sent, sent-last, ok, sent-ok, p99)
				last = sent
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
