package security

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/orderpipe/orderpipe/internal/catalog"
	"github.com/orderpipe/orderpipe/internal/ingress"
	"github.com/orderpipe/orderpipe/pkg/auth"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

const (
	issuer   = "https://idp.example"
	audience = "orderpipe"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwk(kid string, k *rsa.PrivateKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAuthAttacks: with auth on, forged, misdirected and stale tokens are
// 401 with a WWW-Authenticate challenge; another customer's order is 404
// (as if it did not exist) for reads and cancels; admin routes need the
// admin scope (403); keys rotate through the JWKS without a restart. What
// was refused produced nothing: the topics are read back at the end.
func TestAuthAttacks(t *testing.T) {
	t.Parallel()
	oldKey, newKey, evil := rsaKey(t), rsaKey(t), rsaKey(t)
	var set atomic.Value
	publish := func(keys ...map[string]string) {
		raw, _ := json.Marshal(map[string]any{"keys": keys})
		set.Store(raw)
	}
	publish(jwk("k-old", oldKey))
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(set.Load().([]byte)) }))
	t.Cleanup(idp.Close)
	s := newStack(t, func(ic *ingress.Config, cc *catalog.Config) {
		a := auth.Config{JWKSURL: idp.URL, Issuer: issuer, Audience: audience, Refresh: time.Second}
		ic.Auth, cc.Auth = a, a
	})

	now := time.Now()
	claims := func(sub string, extra ...any) jwt.MapClaims {
		c := jwt.MapClaims{"sub": sub, "iss": issuer, "aud": audience, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == nil {
				delete(c, extra[i].(string))
			} else {
				c[extra[i].(string)] = extra[i+1]
			}
		}
		return c
	}
	sign := func(m jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = kid
		out, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rs := func(c jwt.MapClaims) string { return sign(jwt.SigningMethodRS256, "k-old", oldKey, c) }
	pubDER, _ := x509.MarshalPKIXPublicKey(&oldKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims("alice")).SignedString(jwt.UnsafeAllowNoneSignatureType)
	alice, bob := rs(claims("alice")), rs(claims("bob"))
	admin := rs(claims("ops-1", "scope", "catalog:admin"))
	rotated := sign(jwt.SigningMethodRS256, "k-new", newKey, claims("alice"))

	bearer := func(tok string) http.Header {
		h := hdr("Content-Type", "application/json")
		if tok != "" {
			h.Set("Authorization", "Bearer "+tok)
		}
		return h
	}
	post := func(tok, key, body string) response {
		h := bearer(tok)
		h.Set("Idempotency-Key", key)
		return send(t, req{"POST", s.ingress + "/api/v1/orders", strings.NewReader(body), h})
	}
	// Alice's and Bob's orders.
	aliceOrder, bobOrder := schemas.OrderID("alice", "a-1"), schemas.OrderID("bob", "b-1")
	for tok, key := range map[string]string{alice: "a-1", bob: "b-1"} {
		sub := map[string]string{alice: "alice", bob: "bob"}[tok]
		if r := post(tok, key, orderJSON(sub)); r.Status != 202 {
			t.Fatalf("%s's order: %d %s", sub, r.Status, r.Raw)
		}
	}
	seedProduct(t, s, "p-1")
	cart := send(t, req{"POST", s.catalog + "/api/v1/carts", nil, nil}).Body["id"].(string)
	if r := send(t, req{"PUT", s.catalog + "/api/v1/carts/" + cart + "/items", strings.NewReader(`{"productId":"p-1","quantity":1}`), bearer("")}); r.Status != 200 {
		t.Fatalf("cart item: %d %s", r.Status, r.Raw)
	}
	addr := orderJSON("alice")
	checkoutBody := addr[:strings.Index(addr, `,"lines"`)] + "}"
	product := `{"name":"Widget","sku":"SKU-9","categoryId":"cat","price":{"amount":100,"currency":"USD"}}`

	type row struct {
		name, service, method, path, body, key, token string
		setup                                         func() // before the request
		status                                        int
		challenge                                     string // WWW-Authenticate prefix for 401/403
		eventually                                    bool   // poll (JWKS refresh) up to 20s
	}
	orders := "/api/v1/orders"
	rows := []row{
		{name: "no token", service: "ingress", method: "POST", path: orders, body: orderJSON("alice"), key: "x-1", status: 401, challenge: "Bearer"},
		{name: "alg none", service: "ingress", method: "POST", path: orders, body: orderJSON("alice"), key: "x-2", token: none, status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "HS256 keyed with the RSA public key", service: "ingress", method: "POST", path: orders, body: orderJSON("alice"), key: "x-3",
			token: sign(jwt.SigningMethodHS256, "k-old", pubPEM, claims("alice")), status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "expired", service: "ingress", method: "POST", path: orders, body: orderJSON("alice"), key: "x-4",
			token: rs(claims("alice", "exp", now.Add(-time.Hour).Unix())), status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "not yet valid", service: "ingress", method: "POST", path: orders, body: orderJSON("alice"), key: "x-5",
			token: rs(claims("alice", "nbf", now.Add(time.Hour).Unix())), status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "wrong issuer", service: "ingress", method: "POST", path: orders, body: orderJSON("alice"), key: "x-6",
			token: rs(claims("alice", "iss", "https://evil.example")), status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "wrong audience", service: "ingress", method: "POST", path: orders, body: orderJSON("alice"), key: "x-7",
			token: rs(claims("alice", "aud", "someone-else")), status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "unknown kid", service: "ingress", method: "POST", path: orders, body: orderJSON("alice"), key: "x-8",
			token: sign(jwt.SigningMethodRS256, "k-unknown", evil, claims("alice")), status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "our kid, another key", service: "ingress", method: "POST", path: orders, body: orderJSON("alice"), key: "x-9",
			token: sign(jwt.SigningMethodRS256, "k-old", evil, claims("alice")), status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "ordering as another customer", service: "ingress", method: "POST", path: orders, body: orderJSON("bob"), key: "x-10", token: alice, status: 403},
		{name: "reading another customer's order", service: "ingress", method: "GET", path: orders + "/" + bobOrder, token: alice, status: 404},
		{name: "reading an order that does not exist", service: "ingress", method: "GET", path: orders + "/" + schemas.OrderID("alice", "none"), token: alice, status: 404},
		{name: "cancelling another customer's order", service: "ingress", method: "POST", path: orders + "/" + bobOrder + "/cancel", token: alice, status: 404},
		{name: "listing another customer's orders", service: "ingress", method: "GET", path: orders + "?customerId=bob", token: alice, status: 403},
		{name: "reading one's own order", service: "ingress", method: "GET", path: orders + "/" + aliceOrder, token: alice, status: 200},
		{name: "admin upsert without token", service: "catalog", method: "PUT", path: "/api/v1/admin/products/p-9", body: product, status: 401, challenge: "Bearer"},
		{name: "admin upsert without the admin scope", service: "catalog", method: "PUT", path: "/api/v1/admin/products/p-9", body: product, token: alice, status: 403,
			challenge: `Bearer error="insufficient_scope", scope="catalog:admin"`},
		{name: "admin adjust without the admin scope", service: "catalog", method: "POST", path: "/api/v1/admin/inventory/p-1/adjust", body: `{"adjustmentId":"a-1","delta":5}`,
			token: alice, status: 403, challenge: `Bearer error="insufficient_scope"`},
		{name: "admin adjust, forged token", service: "catalog", method: "POST", path: "/api/v1/admin/inventory/p-1/adjust", body: `{"adjustmentId":"a-2","delta":5}`,
			token: sign(jwt.SigningMethodRS256, "k-old", evil, claims("ops-1", "scope", "catalog:admin")), status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "admin upsert with the admin scope", service: "catalog", method: "PUT", path: "/api/v1/admin/products/p-9", body: product, token: admin, status: 202},
		{name: "checkout without token", service: "catalog", method: "POST", path: "/api/v1/carts/" + cart + "/checkout", body: checkoutBody, status: 401, challenge: "Bearer"},
		{name: "checkout as another customer", service: "catalog", method: "POST", path: "/api/v1/carts/" + cart + "/checkout", body: strings.Replace(checkoutBody, "alice", "bob", 1), token: alice, status: 403},
		{name: "checkout", service: "catalog", method: "POST", path: "/api/v1/carts/" + cart + "/checkout", body: checkoutBody, token: alice, status: 202},
		{name: "rotated key before it is published", service: "ingress", method: "POST", path: orders, body: orderJSON("alice"), key: "x-11", token: rotated, status: 401},
		{name: "rotated key once published", service: "ingress", method: "POST", path: orders, body: orderJSON("alice"), key: "a-rotated", token: rotated, status: 202, eventually: true,
			setup: func() { publish(jwk("k-old", oldKey), jwk("k-new", newKey)) }},
		{name: "rotated key on catalog admin", service: "catalog", method: "PUT", path: "/api/v1/admin/products/p-9", body: product,
			token: sign(jwt.SigningMethodRS256, "k-new", newKey, claims("ops-1", "scope", "catalog:admin")), status: 202, eventually: true},
		{name: "old key once withdrawn", service: "ingress", method: "GET", path: orders + "/" + aliceOrder, token: alice, status: 401, eventually: true,
			setup: func() { publish(jwk("k-new", newKey)) }},
		// An invalid body: while the old key still verifies, polling gets 400
		// and produces nothing.
		{name: "old admin key once withdrawn", service: "catalog", method: "PUT", path: "/api/v1/admin/products/p-9", body: `{}`, token: admin, status: 401, eventually: true},
	}
	for _, r := range rows {
		if r.setup != nil {
			r.setup()
		}
		base := map[string]string{"ingress": s.ingress, "catalog": s.catalog}[r.service]
		do := func() response {
			h := bearer(r.token)
			if r.key != "" {
				h.Set("Idempotency-Key", r.key)
			}
			var body *strings.Reader
			if r.body != "" {
				body = strings.NewReader(r.body)
			} else {
				body = strings.NewReader("")
			}
			return send(t, req{r.method, base + r.path, body, h})
		}
		got := do()
		for deadline := time.Now().Add(20 * time.Second); r.eventually && got.Status != r.status && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			got = do()
		}
		checkProblem(t, r.name, got, r.status, "")
		if r.challenge != "" && !strings.HasPrefix(got.Header.Get("WWW-Authenticate"), r.challenge) {
			t.Errorf("%s: WWW-Authenticate %q; want %s…", r.name, got.Header.Get("WWW-Authenticate"), r.challenge)
		}
	}
	// Existence does not leak: another customer's order and a missing one
	// answer the same problem type.
	other := send(t, req{"GET", s.ingress + orders + "/" + bobOrder, nil, bearer(rotated)})
	missing := send(t, req{"GET", s.ingress + orders + "/" + schemas.OrderID("alice", "none"), nil, bearer(rotated)})
	if other.Status != 404 || other.Body["type"] != missing.Body["type"] || other.Body["title"] != missing.Body["title"] {
		t.Errorf("another's order %d %v vs a missing one %d %v: want the same 404", other.Status, other.Body, missing.Status, missing.Body)
	}

	// What reached Kafka: Alice's and Bob's orders, the rotated-key order
	// and the checkout — nothing for the refused rows; no cancel; two
	// product upserts (admin, rotated admin) besides the seed; no adjust.
	got := requestsByKey(t, s)
	want := map[string]int{"a-1": 1, "b-1": 1, "a-rotated": 1, cart: 1}
	if len(got) != len(want) {
		t.Errorf("orders.requests.v1 by key %v; want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("orders.requests.v1 by key %v; want %v", got, want)
			break
		}
	}
	for _, rec := range testenv.ReadAll(t, s.kafka, s.names.OrderRequests) {
		var v schemas.OrderRequest
		_ = json.Unmarshal(rec.Value, &v)
		if v.IdempotencyKey == cart && (v.Scope != "alice" || v.CustomerID != "alice") {
			t.Errorf("checkout request scope %q customer %q; want alice (the token's subject)", v.Scope, v.CustomerID)
		}
	}
	if n := len(testenv.ReadAll(t, s.kafka, s.names.OrderCommands)); n != 0 {
		t.Errorf("%d records on orders.commands.v1; want 0 (the only cancel was refused)", n)
	}
	if n := len(testenv.ReadAll(t, s.kafka, s.names.InventoryCommands)); n != 0 {
		t.Errorf("%d records on inventory.commands.v1; want 0", n)
	}
	if n := len(testenv.ReadAll(t, s.kafka, s.names.CatalogProducts)); n != 3 {
		t.Errorf("%d records on catalog.products.v1; want 3 (seed + two admin upserts)", n)
	}
}

// TestOwnerCheckAfterIdempotencyExpiry: once the intake's record (which
// holds the subject) has expired, the order's owner is its customerId —
// which, with auth on, is always the subject (ordering as another customer
// is 403), so ownership holds after expiry too.
func TestOwnerCheckAfterIdempotencyExpiry(t *testing.T) {
	t.Parallel()
	k := rsaKey(t)
	raw, _ := json.Marshal(map[string]any{"keys": []map[string]string{jwk("k1", k)}})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(raw) }))
	t.Cleanup(idp.Close)
	s := newStack(t, func(ic *ingress.Config, cc *catalog.Config) {
		a := auth.Config{JWKSURL: idp.URL, Issuer: issuer, Audience: audience, Refresh: time.Minute}
		ic.Auth, cc.Auth = a, a
	})
	tok := func(sub string) http.Header {
		c := jwt.MapClaims{"sub": sub, "iss": issuer, "aud": audience, "exp": time.Now().Add(time.Hour).Unix()}
		tk := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tk.Header["kid"] = "k1"
		str, _ := tk.SignedString(k)
		return hdr("Authorization", "Bearer "+str, "Content-Type", "application/json", "Idempotency-Key", "o-1")
	}
	r := send(t, req{"POST", s.ingress + "/api/v1/orders", strings.NewReader(orderJSON("alice")), tok("alice")})
	if r.Status != 202 {
		t.Fatalf("POST: %d %s", r.Status, r.Raw)
	}
	id := r.Body["orderId"].(string)
	// Expire the intake's record; leave only the projection's view.
	opts, err := redis.ParseURL(s.redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer func() { _ = rdb.Close() }()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, s.redis.KeyPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		if strings.Contains(key, id) {
			_ = rdb.Del(ctx, key).Err()
		}
	}
	view, _ := json.Marshal(map[string]any{"orderId": id, "version": 2, "status": schemas.StatusConfirmed, "customerId": "alice", "updatedAt": time.Now().UTC()})
	if err := rdb.Set(ctx, s.redis.KeyPrefix+"orderview:"+id, view, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if r := send(t, req{"GET", s.ingress + "/api/v1/orders/" + id, nil, tok("alice")}); r.Status != 200 {
		t.Errorf("owner after expiry: %d %s", r.Status, r.Raw)
	}
	if r := send(t, req{"GET", s.ingress + "/api/v1/orders/" + id, nil, tok("bob")}); r.Status != 404 {
		t.Errorf("another subject after expiry: %d %s; want 404", r.Status, r.Raw)
	}
}
