package ingress

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/internal/orderstore"
	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

type openAPIDoc struct {
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas   map[string]map[string]any `json:"schemas"`
		Responses map[string]map[string]any `json:"responses"`
	} `json:"components"`
}

type operation struct {
	Responses map[string]map[string]any `json:"responses"`
}

func loadDoc(t *testing.T) openAPIDoc {
	t.Helper()
	var d openAPIDoc
	if err := json.Unmarshal(OpenAPI, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var raw map[string]any
	_ = json.Unmarshal(OpenAPI, &raw)
	if raw["openapi"] != "3.1.0" {
		t.Fatalf("openapi version %v, want 3.1.0", raw["openapi"])
	}
	return d
}

// TestRoutesMatchOpenAPI: every route the service mounts is in the document
// and every operation of the document is mounted.
func TestRoutesMatchOpenAPI(t *testing.T) {
	loadDoc(t) // parses, and is OpenAPI 3.1.0
	svctest.CheckRoutesDocumented(t, (&Service{}).Routes, OpenAPI)
}

// TestHandlersAnswerAsDocumented sends requests for every documented status
// the service can produce here and checks each answer's status, media type
// and body against the operation in openapi.json.
func TestHandlersAnswerAsDocumented(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	k := testenv.Kafka(t).Config
	svctest.ApplyTopics(t, k)
	cfg := testConfig(k, redisConfig(testenv.Redis(t)))
	cfg.Intake.ScopeRPS = 5
	cfg.MaxBodyBytes = 4096
	h := startIngress(t, cfg)
	rdb := redisClient(t, cfg.Redis.URL)

	accepted := h.post("doc-1", orderBody("c-doc", 1))
	id, _ := accepted.Body["orderId"].(string)
	confirmedID := schemas.OrderID("c-wait", "doc-wait")
	for _, v := range []orderview.View{
		{OrderID: confirmedID, Version: 3, Status: schemas.StatusConfirmed, CustomerID: "c-wait", Currency: "USD", UpdatedAt: time.Now().UTC(),
			Lines: []orderview.Line{{LineNo: 1, ProductID: "p-1", Quantity: 1, UnitPrice: &schemas.Money{Amount: 100, Currency: "USD"}, LineTotal: &schemas.Money{Amount: 100, Currency: "USD"}}},
			Total: &schemas.Money{Amount: 100, Currency: "USD"}},
	} {
		if _, err := orderview.Write(context.Background(), rdb, cfg.Redis.KeyPrefix, v, 0); err != nil {
			t.Fatal(err)
		}
	}
	type call struct {
		op      string // "method path-template"
		method  string
		path    string
		headers map[string]string
		body    string
		want    int
	}
	key := map[string]string{"Idempotency-Key": "doc-k"}
	calls := []call{
		{"post /api/v1/orders", "POST", "/api/v1/orders", map[string]string{"Idempotency-Key": "doc-2"}, orderBody("c-doc2", 1), 202},
		{"post /api/v1/orders", "POST", "/api/v1/orders", map[string]string{"Idempotency-Key": "doc-wait", "Prefer": "wait=2"}, orderBody("c-wait", 1), 201},
		{"post /api/v1/orders", "POST", "/api/v1/orders", nil, orderBody("c-doc3", 1), 400},
		{"post /api/v1/orders", "POST", "/api/v1/orders", key, `{"customerId":1,"lines":"x","page":2}`, 400},
		{"post /api/v1/orders", "POST", "/api/v1/orders", key, `{"customerId":`, 400},
		{"post /api/v1/orders", "POST", "/api/v1/orders", map[string]string{"Idempotency-Key": "doc-1"}, orderBody("c-doc", 9), 422},
		{"post /api/v1/orders", "POST", "/api/v1/orders", map[string]string{"Idempotency-Key": "doc-big"}, `{"customerId":"` + strings.Repeat("x", 5000) + `"}`, 413},
		{"post /api/v1/orders", "POST", "/api/v1/orders", map[string]string{"Idempotency-Key": "doc-ct", "Content-Type": "text/plain"}, orderBody("c-doc4", 1), 415},
		{"get /api/v1/orders/{id}", "GET", "/api/v1/orders/" + id + "?page=3", nil, "", 200},
		{"get /api/v1/orders/{id}", "GET", "/api/v1/orders/" + confirmedID, nil, "", 200},
		{"get /api/v1/orders/{id}", "GET", "/api/v1/orders/" + uuid.NewString(), nil, "", 404},
		{"get /api/v1/orders/{id}", "GET", "/api/v1/orders/not-a-uuid", nil, "", 404},
		{"post /api/v1/orders/{id}/cancel", "POST", "/api/v1/orders/" + id + "/cancel", nil, "", 202},
		{"post /api/v1/orders/{id}/cancel", "POST", "/api/v1/orders/" + confirmedID + "/cancel", nil, "", 409},
		{"post /api/v1/orders/{id}/cancel", "POST", "/api/v1/orders/" + uuid.NewString() + "/cancel", nil, "", 404},
		{"get /api/v1/orders", "GET", "/api/v1/orders?pageSize=1000", nil, "", 400},
		{"get /openapi.json", "GET", "/openapi.json", nil, "", 200},
		{"get /api/v1/orders", "GET", "/api/v1/orders?customerId=c-doc&cursor=abc&page=2", nil, "", 200},
	}
	// In flight: claim the key in Redis as a concurrent first request would.
	inflightID := schemas.OrderID("c-inflight", "doc-inflight")
	// The documented layout: "v1|I|<token>|<bodyHash>|<len(scope)>|<scope><customerId>".
	rec := "v1|I|t|" + bodyHashOf(t, orderBody("c-inflight", 1)) + "|10|c-inflightc-inflight"
	if err := rdb.Set(context.Background(), cfg.Redis.KeyPrefix+"idem:"+inflightID, rec, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	calls = append(calls, call{"post /api/v1/orders", "POST", "/api/v1/orders", map[string]string{"Idempotency-Key": "doc-inflight"}, orderBody("c-inflight", 1), 409})
	for i := range 6 {
		want := 202
		if i == 5 {
			want = 429
		}
		calls = append(calls, call{"post /api/v1/orders", "POST", "/api/v1/orders", map[string]string{"Idempotency-Key": fmt.Sprintf("rl-%d", i)}, orderBody("c-429", 1), want})
	}

	seen := map[string]bool{}
	for _, c := range calls {
		res := h.do(c.method, c.path, c.body, c.headers)
		if res.Status != c.want {
			t.Errorf("%s %s = %d %s; want %d", c.method, c.path, res.Status, res.Raw, c.want)
			continue
		}
		parts := strings.SplitN(c.op, " ", 2)
		op, ok := doc.Paths[parts[1]][parts[0]]
		if !ok {
			t.Fatalf("no operation %s in openapi.json", c.op)
		}
		spec, ok := op.Responses[strconv.Itoa(res.Status)]
		if !ok {
			t.Errorf("%s answered %d, which openapi.json does not declare", c.op, res.Status)
			continue
		}
		seen[c.op+" "+strconv.Itoa(res.Status)] = true
		spec = resolve(doc, spec)
		content, _ := spec["content"].(map[string]any)
		ct := strings.Split(res.Header.Get("Content-Type"), ";")[0]
		media, ok := content[ct].(map[string]any)
		if !ok {
			t.Errorf("%s %d: Content-Type %q not declared (%v)", c.op, res.Status, ct, keys(content))
			continue
		}
		if hdrs, ok := spec["headers"].(map[string]any); ok {
			for name := range hdrs {
				if name != "Preference-Applied" && name != "WWW-Authenticate" && res.Header.Get(name) == "" {
					t.Errorf("%s %d: header %s declared but missing", c.op, res.Status, name)
				}
			}
		}
		var body any
		if err := json.Unmarshal(res.Raw, &body); err != nil {
			t.Errorf("%s %d: body is not JSON: %v", c.op, res.Status, err)
			continue
		}
		for _, e := range validate(doc, media["schema"], body, "body") {
			t.Errorf("%s %d: %s (body %s)", c.op, res.Status, e, res.Raw)
		}
	}
	// Statuses proved by other tests: 401/403 (auth), 503 (Kafka down).
	// 429 on the read and cancel routes: the per-client-IP limit (ratelimit_test.go).
	elsewhere := map[string]bool{"401": true, "403": true, "429": true, "503": true}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			for status := range op.Responses {
				if !seen[method+" "+path+" "+status] && !elsewhere[status] {
					t.Errorf("openapi.json declares %s %s → %s, which no test produced", method, path, status)
				}
			}
		}
	}
}

func bodyHashOf(t *testing.T, body string) string {
	t.Helper()
	h, err := intakeParse(body)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func resolve(doc openAPIDoc, node map[string]any) map[string]any {
	for {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		name := ref[strings.LastIndex(ref, "/")+1:]
		switch {
		case strings.HasPrefix(ref, "#/components/schemas/"):
			node = doc.Components.Schemas[name]
		case strings.HasPrefix(ref, "#/components/responses/"):
			node = doc.Components.Responses[name]
		default:
			return node
		}
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// validate checks v against the JSON Schema subset openapi.json uses.
func validate(doc openAPIDoc, schemaNode any, v any, at string) []string {
	s, ok := schemaNode.(map[string]any)
	if !ok {
		return nil
	}
	s = resolve(doc, s)
	var errs []string
	fail := func(f string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(f, args...)) }
	if c, ok := s["const"]; ok && c != v {
		fail("want const %v, got %v", c, v)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		fail("%v not in enum %v", v, enum)
	}
	switch s["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			fail("want object, got %T", v)
			return errs
		}
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				fail("required %q missing", r)
			}
		}
		for name, val := range obj {
			ps, ok := props[name]
			if !ok {
				if props != nil && s["additionalProperties"] != true {
					fail("property %q not in the schema", name)
				}
				continue
			}
			errs = append(errs, validate(doc, ps, val, at+"."+name)...)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			fail("want array, got %T", v)
			return errs
		}
		for i, item := range arr {
			errs = append(errs, validate(doc, s["items"], item, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("want string, got %T", v)
			return errs
		}
		if s["format"] == "uuid" && !uuidRE.MatchString(str) {
			fail("%q is not a uuid", str)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				fail("%q is not a date-time", str)
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			fail("want integer, got %v", v)
		}
	}
	return errs
}

func intakeParse(body string) (string, error) {
	o, p := intake.Parse([]byte(body), "USD")
	if p != nil {
		return "", p
	}
	return intake.BodyHash(o), nil
}

// fakeStore is an OrderStore with one order per customer.
type fakeStore struct{}

func (fakeStore) List(_ context.Context, customerID, _ string, _ int) (orderstore.Page, error) {
	return orderstore.Page{Items: []orderview.View{{OrderID: schemas.OrderID(customerID, "k"), Version: 2, Status: schemas.StatusPending,
		CustomerID: customerID, UpdatedAt: time.Now().UTC()}}, NextCursor: "next"}, nil
}

func (fakeStore) Get(_ context.Context, id string) (orderview.View, error) {
	return orderview.View{}, fmt.Errorf("no order %s: %w", id, orderstore.ErrNotFound)
}
