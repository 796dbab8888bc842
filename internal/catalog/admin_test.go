package catalog

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// An admin upsert goes through catalog.products.v1 (CloudEvents headers)
// and comes back through the projection; an adjustment becomes an Adjust
// command on inventory.commands.v1.
func TestAdminWritesGoThroughKafka(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	h := startCatalog(t, testConfig(k, r))
	names := kafka.TopicNames(k.TopicPrefix)

	body := `{"sku":"SKU-9","name":"Garden Hose","categoryId":"garden","price":{"amount":3499,"currency":"usd"},"unknownField":1}`
	got := h.do("PUT", "/api/v1/admin/products/p-9", body, nil)
	if got.Status != 202 || got.Header.Get("Location") != "/api/v1/products/p-9" {
		t.Fatalf("upsert: %d %v %s", got.Status, got.Header, got.Raw)
	}
	v1 := num(got.Body["version"])
	eventually(t, 30*time.Second, "upsert visible", func() bool {
		return field(h.get("/api/v1/products/p-9").Body, "name") == "Garden Hose"
	})
	got = h.do("PUT", "/api/v1/admin/products/p-9", strings.Replace(body, "3499", "2999", 1), nil)
	if num(got.Body["version"]) <= v1 {
		t.Fatalf("second upsert version %d not above %d", num(got.Body["version"]), v1)
	}
	eventually(t, 30*time.Second, "second upsert visible", func() bool {
		return num(field(h.get("/api/v1/products/p-9").Body, "price", "amount")) == 2999
	})
	recs := testenv.ReadAll(t, k, names.CatalogProducts)
	if len(recs) != 2 || kafka.Header(recs[0], kafka.HeaderType) != schemas.TypeProduct || kafka.Header(recs[0], kafka.HeaderSource) != Source || string(recs[0].Key) != "p-9" {
		t.Fatalf("product records: %d, first %+v", len(recs), recs[0].Headers)
	}

	for _, c := range []struct{ name, path, body string }{
		{"no name", "/api/v1/admin/products/p-10", `{"categoryId":"garden","price":{"amount":1,"currency":"USD"}}`},
		{"negative price", "/api/v1/admin/products/p-10", `{"name":"x","categoryId":"garden","price":{"amount":-1,"currency":"USD"}}`},
		{"float price", "/api/v1/admin/products/p-10", `{"name":"x","categoryId":"garden","price":{"amount":1.5,"currency":"USD"}}`},
		{"bad currency", "/api/v1/admin/products/p-10", `{"name":"x","categoryId":"garden","price":{"amount":1,"currency":"XXX"}}`},
		{"id mismatch", "/api/v1/admin/products/p-10", `{"productId":"p-11","name":"x","categoryId":"garden","price":{"amount":1,"currency":"USD"}}`},
		{"adjust without id", "/api/v1/admin/inventory/p-9/adjust", `{"delta":5}`},
		{"adjust both", "/api/v1/admin/inventory/p-9/adjust", `{"adjustmentId":"a-1","delta":5,"absolute":3}`},
		{"adjust negative absolute", "/api/v1/admin/inventory/p-9/adjust", `{"adjustmentId":"a-1","absolute":-3}`},
	} {
		method := "PUT"
		if strings.Contains(c.path, "adjust") {
			method = "POST"
		}
		if got := h.do(method, c.path, c.body, nil); got.Status != 400 || got.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s; want 400", c.name, got.Status, got.Raw)
		}
	}

	got = h.do("POST", "/api/v1/admin/inventory/p-9/adjust", `{"adjustmentId":"restock-1","delta":25,"reason":"delivery"}`, nil)
	if got.Status != 202 || got.Body["adjustmentId"] != "restock-1" {
		t.Fatalf("adjust: %d %s", got.Status, got.Raw)
	}
	got = h.do("POST", "/api/v1/admin/inventory/p-9/adjust", `{"absolute":10}`, map[string]string{"Idempotency-Key": "count-2026-11"})
	if got.Status != 202 {
		t.Fatalf("adjust with Idempotency-Key: %d %s", got.Status, got.Raw)
	}
	var cmds []schemas.InventoryCommand
	for _, rec := range testenv.ReadAll(t, k, names.InventoryCommands) {
		var c schemas.InventoryCommand
		if err := json.Unmarshal(rec.Value, &c); err != nil || string(rec.Key) != "p-9" || kafka.Header(rec, kafka.HeaderType) != schemas.TypeInventoryCommand {
			t.Fatalf("command record: %v key %q %s", err, rec.Key, rec.Value)
		}
		cmds = append(cmds, c)
	}
	if len(cmds) != 2 || cmds[0].Type != schemas.CmdAdjust || cmds[0].AdjustmentID != "restock-1" || *cmds[0].Delta != 25 ||
		cmds[1].AdjustmentID != "count-2026-11" || *cmds[1].Absolute != 10 {
		t.Fatalf("adjust commands: %+v", cmds)
	}
}

// With auth configured, the admin routes and the checkout refuse requests
// the service cannot verify; with a verifier, admin needs catalog:admin.
func TestAdminAuth(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	cfg := testConfig(k, r)
	cfg.AdminAuth = true // auth on, but no verifier wired
	h := startCatalog(t, cfg)
	if got := h.do("PUT", "/api/v1/admin/products/p-1", `{}`, nil); got.Status != 503 {
		t.Fatalf("auth on, no verifier: %d; want 503 (fail closed)", got.Status)
	}
	h.svc.Auth = fakeAuth{}
	if got := h.do("PUT", "/api/v1/admin/products/p-1", `{}`, nil); got.Status != 401 {
		t.Fatalf("no token: %d; want 401", got.Status)
	}
	if got := h.do("PUT", "/api/v1/admin/products/p-1", `{}`, map[string]string{"Authorization": "Bearer shopper"}); got.Status != 403 {
		t.Fatalf("token without catalog:admin: %d; want 403", got.Status)
	}
	if got := h.do("PUT", "/api/v1/admin/products/p-1", `{}`, map[string]string{"Authorization": "Bearer admin"}); got.Status != 400 {
		t.Fatalf("admin token, invalid body: %d; want 400", got.Status)
	}
	if got := h.get("/api/v1/products"); got.Status != 200 {
		t.Fatalf("reads stay public: %d", got.Status)
	}
}

type fakeAuth struct{}

func (fakeAuth) Authenticate(r *http.Request) (Principal, error) {
	switch r.Header.Get("Authorization") {
	case "Bearer admin":
		return Principal{Subject: "ops-1", Scopes: []string{AdminScope}}, nil
	case "Bearer shopper":
		return Principal{Subject: "c-1"}, nil
	}
	return Principal{}, errNoToken
}

var errNoToken = errorString("a bearer token is required")

type errorString string

func (e errorString) Error() string { return string(e) }

// Listing parameters are validated: garbage, tampered or foreign cursors and
// out-of-range page sizes are 400 problems, never 5xx.
func TestListingValidation(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	h := startCatalog(t, testConfig(k, r))
	w := newWriter(t, k)
	var ps []schemas.Product
	for i := range 30 {
		ps = append(ps, product(fmtID("p", i), "Thing", []string{"a", "b"}[i%2], 100, 1))
	}
	w.products(ps...)
	eventually(t, 30*time.Second, "projected", func() bool { return len(walk(t, h, "pageSize=200")) == 30 })
	first := h.get("/api/v1/products?pageSize=5&categoryId=a")
	cursor, _ := first.Body["nextCursor"].(string)
	if cursor == "" {
		t.Fatalf("no nextCursor: %s", first.Raw)
	}
	tampered := []byte(cursor)
	tampered[len(tampered)/2] ^= 1
	for _, q := range []string{
		"pageSize=0", "pageSize=201", "pageSize=abc", "isAvailable=maybe", "cursor=garbage", "cursor=" + string(tampered),
		"cursor=" + cursor, // issued for categoryId=a
		"categoryId=a&search=thing&cursor=" + cursor,
		"categoryId=" + strings.Repeat("x", 200), "search=" + strings.Repeat("y", 101),
		"cursor=" + strings.Repeat("A", 5000),
	} {
		if got := h.get("/api/v1/products?" + q); got.Status != 400 || got.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("?%.60s: %d %s; want 400", q, got.Status, got.Raw)
		}
	}
	if got := h.get("/api/v1/products?pageSize=5&categoryId=a&cursor=" + cursor + "&page=2"); got.Status != 200 {
		t.Errorf("a valid cursor (page size and unknown parameters may change): %d %s", got.Status, got.Raw)
	}
}

// An undecodable record goes to its DLQ with the reason; the records after
// it on the same partition are still projected.
func TestUndecodableRecordGoesToDLQ(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	h := startCatalog(t, testConfig(k, r))
	w := newWriter(t, k)
	names := kafka.TopicNames(k.TopicPrefix)
	w.produce(&kgo.Record{Topic: names.CatalogProducts, Key: []byte("p-1"), Value: []byte("{not json")})
	w.products(product("p-1", "Fine", "misc", 100, 1))
	eventually(t, 30*time.Second, "record after the bad one projected", func() bool { return h.get("/api/v1/products/p-1").Status == 200 })
	dead := testenv.ReadAll(t, k, kafka.DLQ(names.CatalogProducts))
	if len(dead) != 1 || string(dead[0].Value) != "{not json" || kafka.Header(dead[0], schemas.DLQHeaderReason) == "" ||
		kafka.Header(dead[0], schemas.DLQHeaderTopic) != names.CatalogProducts || kafka.Header(dead[0], schemas.DLQHeaderStage) != projectorStage {
		t.Fatalf("DLQ: %d records %+v", len(dead), dead)
	}
}
