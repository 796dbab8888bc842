package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/orderpipe/orderpipe/schemas"
)

// Workload is how the clients behave.
type Workload struct {
	Duration    time.Duration // traffic time
	Rate        float64       // normal arrivals (new keys) per second
	BurstFactor float64       // the burst's rate = Rate × BurstFactor
	BurstAt     time.Duration // when the burst starts
	BurstFor    time.Duration // how long it holds (after a ramp of BurstRamp)
	BurstRamp   time.Duration
	Triple      float64 // share of keys sent by three clients at once
	Retry       float64 // share of keys sent again after their 2xx
	Changed     float64 // share of keys retried with another body after their 2xx (must be 422)
	Cancel      float64 // share of orders cancelled right after their 2xx
	Timeout     time.Duration
	GiveUp      time.Duration // a client stops retrying a key after this long
	MaxInFlight int           // keys in flight at once; arrivals wait beyond (and their latency counts from when they were due)
	Customers   int
	Seed        uint64
}

// rateAt is the arrival rate at t since the start.
func (w Workload) rateAt(t time.Duration) float64 {
	burst := w.Rate * w.BurstFactor
	switch {
	case w.BurstFor <= 0 || t < w.BurstAt:
		return w.Rate
	case t < w.BurstAt+w.BurstRamp:
		return w.Rate + (burst-w.Rate)*float64(t-w.BurstAt)/float64(w.BurstRamp)
	case t < w.BurstAt+w.BurstRamp+w.BurstFor:
		return burst
	}
	return w.Rate
}

// BurstEnd is when the burst stops.
func (w Workload) BurstEnd() time.Duration { return w.BurstAt + w.BurstRamp + w.BurstFor }

// ClientStats is what the clients measured.
type ClientStats struct {
	Start                                                 time.Time
	Requests, Timeouts, ConnErrors                        atomic.Int64
	Status2xx, Status409, Status422, Status429, Status5xx atomic.Int64
	Unexpected                                            atomic.Int64 // answers no correct ingress gives (wrong orderId, 422 to the same body, …)
	GaveUp                                                atomic.Int64
	Cancel404                                             atomic.Int64 // cancels of acknowledged orders answered 404 (not visible in Redis yet)

	mu          sync.Mutex
	samples     []string
	lat, burst  *hdrhistogram.Histogram // one POST's latency (µs), all and during the burst
	ackedPerSec []int64                 // new keys acknowledged per second since Start
}

func newStats() *ClientStats {
	return &ClientStats{Start: time.Now(), lat: hdrhistogram.New(1, 120_000_000, 3), burst: hdrhistogram.New(1, 120_000_000, 3)}
}

func (s *ClientStats) unexpected(format string, args ...any) {
	s.Unexpected.Add(1)
	s.mu.Lock()
	if len(s.samples) < 20 {
		s.samples = append(s.samples, fmt.Sprintf(format, args...))
	}
	s.mu.Unlock()
}

func (s *ClientStats) observe(d time.Duration, inBurst bool) {
	s.mu.Lock()
	_ = s.lat.RecordValue(d.Microseconds())
	if inBurst {
		_ = s.burst.RecordValue(d.Microseconds())
	}
	s.mu.Unlock()
}

func (s *ClientStats) acked(at time.Time) {
	sec := int(at.Sub(s.Start) / time.Second)
	s.mu.Lock()
	for len(s.ackedPerSec) <= sec {
		s.ackedPerSec = append(s.ackedPerSec, 0)
	}
	s.ackedPerSec[sec]++
	s.mu.Unlock()
}

// Samples of unexpected answers.
func (s *ClientStats) Samples() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.samples...)
}

// Latency of one POST: p50, p95, p99 (all, or during the burst).
func (s *ClientStats) Latency(burst bool) Percentiles {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.lat
	if burst {
		h = s.burst
	}
	us := func(q float64) time.Duration { return time.Duration(h.ValueAtQuantile(q)) * time.Microsecond }
	return Percentiles{N: int(h.TotalCount()), P50: us(50), P95: us(95), P99: us(99), Max: time.Duration(h.Max()) * time.Microsecond}
}

// AckedPerSecond is the count of newly acknowledged keys in each second.
func (s *ClientStats) AckedPerSecond() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.ackedPerSec...)
}

// Client drives the ingresses and keeps the ledger.
type Client struct {
	W        Workload
	Ingress  []string // base URLs
	Products []Product
	Scarce   int // the first Scarce products are scarce
	Ledger   *Ledger
	Stats    *ClientStats
	RunID    string

	http *http.Client
	next atomic.Uint64
}

// Run sends new keys at the workload's rate until its duration is over,
// then waits for every key's client to finish (bounded by GiveUp).
func (c *Client) Run(ctx context.Context) {
	c.http = &http.Client{Timeout: c.W.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 0}}
	c.Stats = newStats()
	rnd := rand.New(rand.NewPCG(c.W.Seed, 1)) //nolint:gosec // G404: workload shapes, not secrets
	sem := make(chan struct{}, c.W.MaxInFlight)
	var wg sync.WaitGroup
	start := c.Stats.Start
	due := start
	for i := 0; ; i++ {
		// Arrivals are scheduled (open model), but the traffic stops at the
		// duration in wall time: when the keys in flight hold arrivals
		// back, the schedule falls behind and must not run on past it.
		since := due.Sub(start)
		if since >= c.W.Duration || time.Since(start) >= c.W.Duration || ctx.Err() != nil {
			break
		}
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		o := c.newOrder(rnd, i)
		plan := plan{triple: rnd.Float64() < c.W.Triple, retry: rnd.Float64() < c.W.Retry,
			changed: rnd.Float64() < c.W.Changed, cancel: rnd.Float64() < c.W.Cancel}
		c.Ledger.Add(o)
		inBurst := since >= c.W.BurstAt && since < c.W.BurstEnd() && c.W.BurstFor > 0
		at := due
		wg.Go(func() {
			defer func() { <-sem }()
			c.key(ctx, o, plan, at, inBurst)
		})
		due = due.Add(time.Duration(float64(time.Second) / c.W.rateAt(since)))
	}
	wg.Wait()
	c.http.CloseIdleConnections()
}

type plan struct{ triple, retry, changed, cancel bool }

var address = map[string]string{"addressLine1": "1 Main St", "city": "Springfield", "stateOrProvince": "IL", "postalCode": "62701", "country": "US"}

// newOrder builds key i: 1–3 lines; about one line in six is a scarce product.
func (c *Client) newOrder(rnd *rand.Rand, i int) *Order {
	n := 1 + rnd.IntN(3)
	var lines []schemas.Line
	seen := map[string]bool{}
	for len(lines) < n {
		p := c.Products[c.Scarce+rnd.IntN(len(c.Products)-c.Scarce)]
		if c.Scarce > 0 && rnd.IntN(6) == 0 {
			p = c.Products[rnd.IntN(c.Scarce)]
		}
		if seen[p.ID] {
			continue
		}
		seen[p.ID] = true
		lines = append(lines, schemas.Line{ProductID: p.ID, Quantity: 1 + rnd.IntN(3)})
	}
	scope := fmt.Sprintf("customer-%d", i%c.W.Customers)
	key := fmt.Sprintf("%s-%d", c.RunID, i)
	return &Order{Scope: scope, Key: key, OrderID: schemas.OrderID(scope, key), Lines: lines, Body: orderBody(scope, lines)}
}

func orderBody(customer string, lines []schemas.Line) []byte {
	b, _ := json.Marshal(map[string]any{"customerId": customer, "currency": Currency, "lines": lines, "shippingAddress": address})
	return b
}

// key runs one key's clients: the first send (three at once for a share),
// then the retry after acceptance, the changed body and the cancel.
func (c *Client) key(ctx context.Context, o *Order, p plan, due time.Time, inBurst bool) {
	senders := 1
	if p.triple {
		senders = 3
	}
	deadline := time.Now().Add(c.W.GiveUp)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() { c.post(ctx, o, o.Body, deadline, inBurst) })
	}
	wg.Wait()
	if !o.Acked.Load() {
		c.Stats.GaveUp.Add(1)
		return
	}
	if p.retry {
		c.post(ctx, o, o.Body, time.Now().Add(c.W.GiveUp), inBurst)
	}
	if p.changed {
		c.changed(ctx, o, time.Now().Add(c.W.GiveUp))
	}
	if p.cancel {
		c.cancel(ctx, o, time.Now().Add(c.W.GiveUp))
	}
	_ = due
}

type reply struct {
	status  int
	orderID string
	retryIn time.Duration
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, key string, inBurst bool) (reply, error) {
	base := c.Ingress[int(c.next.Add(1))%len(c.Ingress)]
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	c.Stats.Requests.Add(1)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ue, ok := err.(interface{ Timeout() bool }); ok && ue.Timeout() {
			c.Stats.Timeouts.Add(1)
		} else {
			c.Stats.ConnErrors.Add(1)
		}
		return reply{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if method == http.MethodPost && key != "" {
		c.Stats.observe(time.Since(start), inBurst)
	}
	r := reply{status: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		r.retryIn = time.Duration(s) * time.Second
	}
	var b struct {
		OrderID string `json:"orderId"`
	}
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &b)
	}
	r.orderID = b.OrderID
	switch {
	case r.status >= 200 && r.status < 300:
		c.Stats.Status2xx.Add(1)
	case r.status == http.StatusConflict:
		c.Stats.Status409.Add(1)
	case r.status == http.StatusUnprocessableEntity:
		c.Stats.Status422.Add(1)
	case r.status == http.StatusTooManyRequests:
		c.Stats.Status429.Add(1)
	case r.status >= 500:
		c.Stats.Status5xx.Add(1)
	}
	return r, nil
}

func backoff(ctx context.Context, attempt int, retryIn time.Duration) {
	d := time.Duration(50+rand.IntN(100)) * time.Millisecond << min(attempt, 4) //nolint:gosec // G404: retry jitter
	if retryIn > 0 {
		d = min(retryIn, time.Second) + time.Duration(rand.IntN(200))*time.Millisecond //nolint:gosec // G404: retry jitter
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// post sends the key's body until a 2xx: timeouts, connection errors, 409
// (in flight), 429 and 5xx are retried with the same key and body.
func (c *Client) post(ctx context.Context, o *Order, body []byte, deadline time.Time, inBurst bool) {
	for attempt := 0; time.Now().Before(deadline) && ctx.Err() == nil; attempt++ {
		if o.FirstSent.Load() == 0 {
			o.FirstSent.CompareAndSwap(0, time.Now().UnixNano())
		}
		o.Sent.Store(true)
		r, err := c.do(ctx, http.MethodPost, "/api/v1/orders", body, o.Key, inBurst)
		switch {
		case r.status == http.StatusConflict: // in flight elsewhere: wait longer
			backoff(ctx, attempt+3, r.retryIn)
		case err != nil || r.status == http.StatusTooManyRequests || r.status >= 500:
			backoff(ctx, attempt, r.retryIn)
		case r.status == http.StatusAccepted || r.status == http.StatusCreated:
			if r.orderID != o.OrderID {
				c.Stats.unexpected("key %s: 2xx with orderId %q, want %s", o.Key, r.orderID, o.OrderID)
			}
			if o.Acked.CompareAndSwap(false, true) {
				now := time.Now()
				o.AckedAt.Store(now.UnixNano())
				c.Stats.acked(now)
			}
			return
		default:
			c.Stats.unexpected("key %s: answered %d to its own body", o.Key, r.status)
			return
		}
	}
}

// changed retries an accepted key with another body: 422 when Redis knows
// the key; a 2xx with the same orderId when it does not (the first body
// stands, the order-processor records a conflict).
func (c *Client) changed(ctx context.Context, o *Order, deadline time.Time) {
	other := orderBody(o.Scope, []schemas.Line{{ProductID: c.Products[len(c.Products)-1].ID, Quantity: 7}})
	o.ChangedTo.Add(1)
	for attempt := 0; time.Now().Before(deadline) && ctx.Err() == nil; attempt++ {
		r, err := c.do(ctx, http.MethodPost, "/api/v1/orders", other, o.Key, false)
		switch {
		case err != nil || r.status == http.StatusConflict || r.status == http.StatusTooManyRequests || r.status >= 500:
			backoff(ctx, attempt, r.retryIn)
		case r.status == http.StatusUnprocessableEntity:
			return
		case r.status == http.StatusAccepted || r.status == http.StatusCreated:
			if r.orderID != o.OrderID {
				c.Stats.unexpected("key %s with another body: 2xx with orderId %q, want %s", o.Key, r.orderID, o.OrderID)
			}
			o.ChangedAck.Add(1)
			return
		default:
			c.Stats.unexpected("key %s with another body: answered %d, want 422", o.Key, r.status)
			return
		}
	}
}

// cancel cancels an accepted order: 202, or 409 once it is confirmed.
func (c *Client) cancel(ctx context.Context, o *Order, deadline time.Time) {
	o.CancelSent.Store(true)
	for attempt := 0; time.Now().Before(deadline) && ctx.Err() == nil; attempt++ {
		r, err := c.do(ctx, http.MethodPost, "/api/v1/orders/"+o.OrderID+"/cancel", nil, "", false)
		switch {
		case err != nil || r.status == http.StatusTooManyRequests || r.status >= 500:
			backoff(ctx, attempt, r.retryIn)
		case r.status == http.StatusAccepted || r.status == http.StatusConflict:
			return
		case r.status == http.StatusNotFound:
			// The order was acknowledged, but Redis knows neither its
			// acceptance nor its status yet: accepted while the idempotency
			// fast path was unavailable, not projected yet. Counted, and
			// retried as a client would.
			c.Stats.Cancel404.Add(1)
			backoff(ctx, attempt+4, 0)
		default:
			c.Stats.unexpected("cancel of %s: answered %d", o.OrderID, r.status)
			return
		}
	}
}
