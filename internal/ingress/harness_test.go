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
	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// harness is one ingress served by app.Run (the real router, middleware and
// wiring) on a loopback port.
type harness struct {
	t      testing.TB
	url    string
	cfg    Config
	svc    *Service
	served *svctest.Service
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

func startIngress(t testing.TB, cfg Config) *harness {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	common := svctest.Common()
	common.HTTP.DrainTimeout = 10 * time.Second
	h := &harness{t: t, cfg: cfg}
	h.served = svctest.Start(t, "ingress", common, func(ctx context.Context, env *app.Env) (app.Service, error) {
		s, err := New(ctx, env, cfg)
		h.svc = s
		return s, err
	})
	h.url = h.served.URL
	return h
}

// close stops the ingress as SIGTERM would (drain HTTP, settle, flush,
// close).
func (h *harness) close() { h.served.Stop() }

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
