package ingress

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

	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// harness is one ingress served by app.Run (the real router, middleware and
// wiring) on a loopback port.
type harness struct {
	t       testing.TB
	url     string
	cfg     Config
	svc     *Service
	stopped chan error
	stop    context.CancelFunc
	closed  bool
}

func testConfig(k config.Kafka, r config.Redis) Config {
	cfg := Config{Kafka: k, Redis: r, Intake: intake.Defaults(), MaxBodyBytes: 64 << 10, MaxWait: 5 * time.Second,
		Postgres: config.Postgres{URL: "postgres://orderpipe@127.0.0.1:5432/orderpipe", MaxConns: 1}}
	cfg.Intake.ProduceTimeout = 2 * time.Second
	cfg.Intake.InFlightTTL = 30 * time.Second
	cfg.Intake.BreakerDelay = time.Second
	cfg.Intake.ScopeRPS = 0
	cfg.Auth.Refresh = time.Minute
	cfg.Store = fakeStore{}
	return cfg
}

// applyTopics creates the topics of k.
func applyTopics(t testing.TB, k config.Kafka) {
	t.Helper()
	cl, err := kafka.NewClient(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kafka.Apply(ctx, cl, kafka.Spec(k, kafka.SpecOptions{}), io.Discard); err != nil {
		t.Fatalf("apply topics: %v", err)
	}
}

func startIngress(t testing.TB, cfg Config) *harness {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	common := app.Common{
		HTTP: config.HTTP{Addr: "127.0.0.1:0", ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, DrainTimeout: 10 * time.Second},
		Log: config.Log{Level: "error", Format: "text"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, cfg: cfg, stopped: make(chan error, 1), stop: cancel}
	ready := make(chan string, 1)
	go func() {
		h.stopped <- app.Run(ctx, "ingress", common, func(ctx context.Context, env *app.Env) (app.Service, error) {
			s, err := New(ctx, env, cfg)
			h.svc = s
			return s, err
		}, app.Options{LogOutput: io.Discard, Ready: func(addr string) { ready <- addr }})
	}()
	select {
	case addr := <-ready:
		h.url = "http://" + addr
	case err := <-h.stopped:
		cancel()
		t.Fatalf("ingress did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("ingress did not start in 60s")
	}
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	if h.closed {
		return
	}
	h.closed = true
	h.stop()
	select {
	case err := <-h.stopped:
		if err != nil {
			h.t.Errorf("ingress stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		h.t.Error("ingress did not stop in 30s")
	}
}

// response is a decoded answer.
type response struct {
	Status  int
	Header  http.Header
	Body    map[string]any
	Raw     []byte
	Elapsed time.Duration
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}

func (h *harness) do(method, path string, body string, headers map[string]string) response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw, Elapsed: time.Since(start)}
	if len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &r.Body)
	}
	return r
}

func (h *harness) post(key, body string) response {
	return h.do("POST", "/api/v1/orders", body, map[string]string{"Idempotency-Key": key})
}

func orderBody(customer string, qty int) string {
	return fmt.Sprintf(`{"customerId":%q,"shippingAddress":{"addressLine1":"1 Main St","city":"Springfield","stateOrProvince":"IL","postalCode":"62701","country":"US"},"lines":[{"productId":"p-1","quantity":%d},{"productId":"p-2","quantity":1}],"currency":"USD"}`, customer, qty)
}

func redisConfig(env *testenv.RedisEnv) config.Redis {
	return config.Redis{URL: env.URL, KeyPrefix: env.Prefix}
}

func redisClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
