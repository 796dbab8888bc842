package security

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

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderpipe/orderpipe/internal/catalog"
	"github.com/orderpipe/orderpipe/internal/ingress"
	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/internal/orderstore"
	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// stack is one ingress and one catalog-api on the test's own topics, Redis
// prefix and PostgreSQL database.
type stack struct {
	t       testing.TB
	kafka   config.Kafka
	redis   config.Redis
	dbURL   string
	names   kafka.Names
	ingress string // base URLs
	catalog string
}

// db is a pool on the stack's PostgreSQL, closed when the test ends.
func (s *stack) db(ctx context.Context) *pgxpool.Pool {
	s.t.Helper()
	pool, err := pgxpool.New(ctx, s.dbURL)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(pool.Close)
	return pool
}

// httpCommon is the HTTP settings of the services under test: the
// defaults, with a short header timeout for the slowloris test.
func httpCommon() app.Common {
	c := svctest.Common()
	c.HTTP.ReadHeaderTimeout = 2 * time.Second
	return c
}

// newStack starts the services; authCfg turns bearer auth on for both.
func newStack(t testing.TB, authCfg func(*ingress.Config, *catalog.Config)) *stack {
	t.Helper()
	k := testenv.Kafka(t).Config
	r := testenv.Redis(t)
	s := &stack{t: t, kafka: k, redis: config.Redis{URL: r.URL, KeyPrefix: r.Prefix}, dbURL: testenv.Postgres(t), names: kafka.TopicNames(k.TopicPrefix)}
	svctest.ApplyTopics(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := orderstore.Migrate(ctx, s.dbURL, nil); err != nil {
		t.Fatal(err)
	}

	ic := ingress.Config{Kafka: k, Redis: s.redis, Intake: intake.Defaults(), MaxBodyBytes: 64 << 10, MaxWait: 2 * time.Second,
		Postgres: config.Postgres{URL: s.dbURL, MaxConns: 2}}
	ic.Intake.ScopeRPS = 0
	ic.Intake.ProduceTimeout = 5 * time.Second
	ic.Intake.InFlightTTL = 30 * time.Second
	ic.Auth.Refresh = time.Minute
	cc := catalog.DefaultConfig(k, s.redis)
	cc.Intake = ic.Intake
	if authCfg != nil {
		authCfg(&ic, &cc)
	}
	s.ingress = start(t, "ingress", func(ctx context.Context, env *app.Env) (app.Service, error) { return ingress.New(ctx, env, ic) }, ic.Validate)
	s.catalog = start(t, "catalog-api", func(ctx context.Context, env *app.Env) (app.Service, error) { return catalog.New(ctx, env, cc) }, cc.Validate)
	return s
}

func start(t testing.TB, name string, build app.Builder, validate func() error) string {
	t.Helper()
	if err := validate(); err != nil {
		t.Fatal(err)
	}
	return svctest.Start(t, name, httpCommon(), build).URL
}

// req is one HTTP request of a table row.
type req struct {
	method, url string
	body        io.Reader
	header      http.Header
}

type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

func send(t testing.TB, r req) response {
	t.Helper()
	hr, err := http.NewRequestWithContext(context.Background(), r.method, r.url, r.body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range r.header {
		hr.Header[k] = vs
	}
	resp, err := client.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &out.Body)
	}
	return out
}

// hdr builds a header from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[http.CanonicalHeaderKey(kv[i])] = append(h[http.CanonicalHeaderKey(kv[i])], kv[i+1])
	}
	return h
}

// checkProblem asserts an RFC 9457 answer with status (and type when set).
func checkProblem(t testing.TB, what string, r response, status int, typ string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: %d %s; want %d", what, r.Status, r.Raw, status)
		return
	}
	if status < 400 {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q; want application/problem+json", what, ct)
	}
	if got, _ := r.Body["status"].(float64); int(got) != status {
		t.Errorf("%s: problem status %v; want %d (%s)", what, r.Body["status"], status, r.Raw)
	}
	if typ != "" && r.Body["type"] != typ {
		t.Errorf("%s: problem type %v; want %s", what, r.Body["type"], typ)
	}
}

func orderJSON(customer string, lines ...string) string {
	if len(lines) == 0 {
		lines = []string{`{"productId":"p-1","quantity":2}`}
	}
	return fmt.Sprintf(`{"customerId":%q,"shippingAddress":{"addressLine1":"1 Main St","city":"Springfield","stateOrProvince":"IL","postalCode":"62701","country":"US"},"lines":[%s],"currency":"USD"}`,
		customer, strings.Join(lines, ","))
}

// requestsByKey counts the order requests on orders.requests.v1 per
// Idempotency-Key.
func requestsByKey(t testing.TB, s *stack) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, r := range testenv.ReadAll(t, s.kafka, s.names.OrderRequests) {
		var v schemas.OrderRequest
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("undecodable request record %q: %v", r.Value, err)
		}
		n[v.IdempotencyKey]++
	}
	return n
}
