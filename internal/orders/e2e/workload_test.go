package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/schemas"
)

// product is a catalog entry with its initial stock.
type product struct {
	id    string
	price int64 // USD cents
	stock int64
}

// testCatalog has a few scarce products (orders for them often don't fit)
// and plenty of the rest.
func testCatalog() []product {
	var cat []product
	for i := 0; i < 4; i++ {
		cat = append(cat, product{id: fmt.Sprintf("scarce-%d", i), price: int64(1999 + 500*i), stock: int64(8 + 4*i)})
	}
	for i := 0; i < 8; i++ {
		cat = append(cat, product{id: fmt.Sprintf("plenty-%d", i), price: int64(199 + 1250*i), stock: 1_000_000})
	}
	return cat
}

// seed writes the catalog to catalog.products.v1 and the initial stock as
// absolute Adjust commands to inventory.commands.v1.
func (p *pipeline) seed(cat []product) {
	p.t.Helper()
	var rs []*kgo.Record
	for _, pr := range cat {
		rs = append(rs, &kgo.Record{Topic: p.names.CatalogProducts, Key: []byte(pr.id), Value: mustJSON(p.t, schemas.Product{
			ProductID: pr.id, Name: pr.id, CategoryID: "test", Price: schemas.Money{Amount: pr.price, Currency: "USD"},
			Active: true, Version: 1, UpdatedAt: time.Now()})})
		stock := pr.stock
		rs = append(rs, &kgo.Record{Topic: p.names.InventoryCommands, Key: []byte(pr.id), Value: mustJSON(p.t, schemas.InventoryCommand{
			Type: schemas.CmdAdjust, ProductID: pr.id, AdjustmentID: "initial-" + pr.id, Absolute: &stock, Reason: "initial", IssuedAt: time.Now()})})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.seedCl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		p.t.Fatal(err)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request is one idempotency key's order as a client sends it.
type request struct {
	key      string
	customer string // the idempotency scope without auth
	body     string
	lines    []schemas.Line
	orderID  string // from the 2xx answer

	accepted  atomic.Bool
	cancelled atomic.Bool // a cancel was sent (answered or not)
	changed   atomic.Bool // the key was also sent with another body
}

func newRequest(key, customer string, lines []schemas.Line) *request {
	b, _ := json.Marshal(map[string]any{
		"customerId": customer, "currency": "USD", "lines": lines,
		"shippingAddress": map[string]string{"addressLine1": "1 Main St", "city": "Springfield", "stateOrProvince": "IL", "postalCode": "62701", "country": "US"},
	})
	return &request{key: key, customer: customer, lines: lines, body: string(b), orderID: schemas.OrderID(customer, key)}
}

// workload is a bounded burst of orders with the ways clients misbehave.
type workload struct {
	keys     int           // idempotency keys (orders)
	workers  int           // concurrent clients
	duration time.Duration // spread the keys over about this long
	dupes    float64       // share of keys sent by two clients at once
	retries  float64       // share of keys sent again after their 2xx
	cancels  float64       // share of orders cancelled right after their 2xx
	seed     uint64
}

// requests builds the workload's keys: 1–3 lines each, a scarce product in
// about a third of them.
func (w workload) requests(cat []product) []*request {
	rnd := rand.New(rand.NewPCG(w.seed, 99))
	out := make([]*request, w.keys)
	for i := range out {
		n := 1 + rnd.IntN(3)
		var lines []schemas.Line
		for j := 0; j < n; j++ {
			pr := cat[4+rnd.IntN(len(cat)-4)]
			if rnd.IntN(9) < 1 {
				pr = cat[rnd.IntN(4)]
			}
			lines = append(lines, schemas.Line{ProductID: pr.id, Quantity: 1 + rnd.IntN(3)})
		}
		out[i] = newRequest(fmt.Sprintf("e2e-%d-%d", w.seed, i), fmt.Sprintf("customer-%d", i%50), lines)
	}
	return out
}

// httpClient is the test clients' HTTP client.
var httpClient = &http.Client{Timeout: 45 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

type answer struct {
	status int
	body   map[string]any
	header http.Header
}

func (p *pipeline) call(ctx context.Context, method, path, body string, headers map[string]string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &a.body)
	}
	return a, nil
}

// post sends the order until it gets a 2xx (the client's retry loop):
// 409 (the same key in flight), 429 and 5xx are retried. It fails the test
// on any other answer.
func (p *pipeline) post(ctx context.Context, r *request, headers map[string]string) (answer, bool) {
	h := map[string]string{"Idempotency-Key": r.key}
	for k, v := range headers {
		h[k] = v
	}
	for attempt := 0; ; attempt++ {
		a, err := p.call(ctx, "POST", "/api/v1/orders", r.body, h)
		switch {
		case ctx.Err() != nil:
			p.t.Errorf("key %s: gave up after %d attempts: %v", r.key, attempt, ctx.Err())
			return a, false
		case err != nil, a.status == http.StatusConflict, a.status == http.StatusTooManyRequests, a.status >= 500:
			time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
			continue
		case a.status == http.StatusAccepted || a.status == http.StatusCreated:
			id, _ := a.body["orderId"].(string)
			if want := r.orderID; id != want || a.header.Get("Location") != "/api/v1/orders/"+want {
				p.t.Errorf("key %s: answered orderId %q Location %q, want %s", r.key, id, a.header.Get("Location"), want)
			}
			return a, true
		default:
			p.t.Errorf("key %s: unexpected %d %v", r.key, a.status, a.body)
			return a, false
		}
	}
}

// drive sends the workload through the ingress and returns its requests.
func (p *pipeline) drive(ctx context.Context, w workload, cat []product) []*request {
	reqs := w.requests(cat)
	rnd := rand.New(rand.NewPCG(w.seed, 7))
	type job struct {
		r                     *request
		dupe, retry, cancelIt bool
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for g := 0; g < w.workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				p.send(ctx, j.r, j.dupe, j.retry, j.cancelIt)
			}
		}()
	}
	pause := w.duration / time.Duration(max(w.keys, 1))
	for _, r := range reqs {
		jobs <- job{r: r, dupe: rnd.Float64() < w.dupes, retry: rnd.Float64() < w.retries, cancelIt: rnd.Float64() < w.cancels}
		time.Sleep(pause)
	}
	close(jobs)
	wg.Wait()
	return reqs
}

func (p *pipeline) send(ctx context.Context, r *request, dupe, retry, cancelIt bool) {
	senders := 1
	if dupe {
		senders = 2
	}
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok := p.post(ctx, r, nil); ok {
				r.accepted.Store(true)
			}
		}()
	}
	wg.Wait()
	if !r.accepted.Load() {
		return
	}
	if retry {
		if a, ok := p.post(ctx, r, nil); ok && a.status != http.StatusAccepted {
			p.t.Errorf("key %s: a retry after acceptance answered %d", r.key, a.status)
		}
	}
	if cancelIt {
		// Sent is what counts for the verifier: a cancel answered 503 (or
		// not at all) may still have reached Kafka. Retry it as a client
		// would, until the API gives a final answer.
		r.cancelled.Store(true)
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
			a, err := p.call(ctx, "POST", "/api/v1/orders/"+r.orderID+"/cancel", "", nil)
			if err == nil && (a.status == http.StatusAccepted || a.status == http.StatusConflict) {
				break
			}
			if time.Now().After(deadline) || (err == nil && a.status != http.StatusServiceUnavailable && a.status != http.StatusTooManyRequests) {
				p.t.Errorf("cancel %s: %d %v %v", r.key, a.status, a.body, err)
				break
			}
		}
	}
}
