package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// harness is one catalog-api served by app.Run (the real router, middleware
// and wiring) on a loopback port, with its projector running.
type harness struct {
	t      testing.TB
	url    string
	cfg    Config
	svc    *Service
	served *svctest.Service
}

// servers returns the test's Kafka (topics applied) and Redis settings.
func servers(t testing.TB) (config.Kafka, config.Redis) {
	t.Helper()
	k := testenv.Kafka(t).Config
	r := testenv.Redis(t)
	svctest.ApplyTopics(t, k)
	return k, config.Redis{URL: r.URL, KeyPrefix: r.Prefix}
}

func testConfig(k config.Kafka, r config.Redis) Config {
	cfg := DefaultConfig(k, r)
	cfg.Intake.ScopeRPS = 0
	cfg.Intake.ProduceTimeout = 5 * time.Second
	cfg.Intake.InFlightTTL = 30 * time.Second
	return cfg
}

func startCatalog(t testing.TB, cfg Config) *harness {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cfg: cfg}
	h.served = svctest.Start(t, "catalog-api", svctest.Common(), func(ctx context.Context, env *app.Env) (app.Service, error) {
		s, err := New(ctx, env, cfg)
		h.svc = s
		return s, err
	})
	h.url = h.served.URL
	return h
}

type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func (h *harness) do(method, path, body string, headers map[string]string) response {
	h.t.Helper()
	r, err := h.try(method, path, body, headers)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (h *harness) try(method, path, body string, headers map[string]string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, h.url+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &r.Body)
	}
	return r, nil
}

func (h *harness) get(path string) response { return h.do("GET", path, "", nil) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, within, what, testenv.Holds(cond))
}

// topicWriter produces records the way the real writers do.
type topicWriter struct {
	t     testing.TB
	cl    *kgo.Client
	names kafka.Names
	rb    Records
}

func newWriter(t testing.TB, k config.Kafka, opts ...kgo.Opt) *topicWriter {
	t.Helper()
	cl, err := kafka.NewProducer(k, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &topicWriter{t: t, cl: cl, names: kafka.TopicNames(k.TopicPrefix), rb: NewRecords(k.TopicPrefix)}
}

func (w *topicWriter) produce(recs ...*kgo.Record) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		w.t.Fatalf("produce: %v", err)
	}
}

func (w *topicWriter) products(ps ...schemas.Product) {
	w.t.Helper()
	recs := make([]*kgo.Record, len(ps))
	for i, p := range ps {
		r, err := w.rb.Product(context.Background(), p)
		if err != nil {
			w.t.Fatalf("product %s: %v", p.ProductID, err)
		}
		recs[i] = r
	}
	w.produce(recs...)
}

func (w *topicWriter) stock(ss ...schemas.StockSnapshot) {
	w.t.Helper()
	recs := make([]*kgo.Record, len(ss))
	for i, s := range ss {
		v, _ := json.Marshal(s)
		recs[i] = kafka.NewRecord(context.Background(), w.names.InventoryStock, []byte(s.ProductID), v,
			kafka.Event{Type: schemas.TypeStockSnapshot, Source: "/test"})
	}
	w.produce(recs...)
}

func product(id, name, cat string, price int64, version int64) schemas.Product {
	return schemas.Product{ProductID: id, SKU: "SKU-" + id, Name: name, CategoryID: cat,
		Price: schemas.Money{Amount: price, Currency: "USD"}, Active: true, Version: version, UpdatedAt: time.Now().UTC()}
}

func stock(id string, available, version int64) schemas.StockSnapshot {
	return schemas.StockSnapshot{ProductID: id, OnHand: available, Available: available, Version: version, UpdatedAt: time.Now().UTC()}
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func field(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func fmtID(prefix string, i int) string { return fmt.Sprintf("%s-%05d", prefix, i) }

func mustParse(t testing.TB, u string) *redis.Options {
	t.Helper()
	o, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func redisClientFor(t testing.TB, rc config.Redis) *redis.Client {
	t.Helper()
	c := redis.NewClient(mustParse(t, rc.URL))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// scrapeLag reads orderpipe_consumer_lag_records of group from /metrics and
// sums it per topic.
func scrapeLag(t testing.TB, h *harness, group string) map[string]float64 {
	t.Helper()
	got := h.get("/metrics")
	out := map[string]float64{}
	for _, line := range strings.Split(string(got.Raw), "\n") {
		if !strings.HasPrefix(line, "orderpipe_consumer_lag_records{") || !strings.Contains(line, `group="`+group+`"`) {
			continue
		}
		i := strings.Index(line, `topic="`)
		j := strings.LastIndexByte(line, ' ')
		if i < 0 || j < 0 {
			continue
		}
		topic := line[i+7:]
		topic = topic[:strings.IndexByte(topic, '"')]
		var v float64
		_, _ = fmt.Sscan(line[j+1:], &v)
		out[topic] += v
	}
	return out
}
