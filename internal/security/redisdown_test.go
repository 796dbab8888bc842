package security

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/orderpipe/orderpipe/internal/catalog"
	"github.com/orderpipe/orderpipe/internal/ingress"
	"github.com/orderpipe/orderpipe/pkg/auth"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// TestCancelWithRedisDown: with auth on and the ingress's Redis down, a
// cancel is allowed only for an order PostgreSQL shows to be the caller's —
// another customer's order is 404, one PostgreSQL does not have yet is 503
// (ownership cannot be checked) — and only the allowed cancel reaches
// orders.commands.v1. (The order-processor does not check who cancels.)
func TestCancelWithRedisDown(t *testing.T) {
	t.Parallel()
	k := rsaKey(t)
	idp := jwksServer(t, k)
	var ln net.ListenConfig
	l, err := ln.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadRedis := "redis://" + l.Addr().String() + "/0"
	_ = l.Close()
	s := newStack(t, func(ic *ingress.Config, cc *catalog.Config) {
		a := auth.Config{JWKSURL: idp, Issuer: issuer, Audience: audience, Refresh: time.Minute}
		ic.Auth, cc.Auth = a, a
		ic.Redis = config.Redis{URL: deadRedis}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := s.db(ctx)
	alicePending, aliceConfirmed, bobs := schemas.OrderID("alice", "1"), schemas.OrderID("alice", "2"), schemas.OrderID("bob", "1")
	for id, row := range map[string][2]string{alicePending: {"alice", "PENDING"}, aliceConfirmed: {"alice", "CONFIRMED"}, bobs: {"bob", "PENDING"}} {
		if _, err := pool.Exec(ctx, `INSERT INTO orders (order_id, customer_id, status, version, currency, shipping_address, created_at, updated_at)
			VALUES ($1, $2, $3, 2, 'USD', '{}', now(), now())`, id, row[0], row[1]); err != nil {
			t.Fatal(err)
		}
	}
	alice := bearerFor(t, k, "alice")
	for _, row := range []struct {
		name, method, id string
		status           int
	}{
		{"cancel another customer's order", "POST", bobs, 404},
		{"read another customer's order", "GET", bobs, 404},
		{"cancel an order PostgreSQL does not have", "POST", schemas.OrderID("alice", "not-yet"), 503},
		{"cancel one's confirmed order", "POST", aliceConfirmed, 409},
		{"cancel one's own order", "POST", alicePending, 202},
		{"read one's own order", "GET", alicePending, 200},
	} {
		path := "/api/v1/orders/" + row.id
		if row.method == "POST" {
			path += "/cancel"
		}
		r := send(t, req{row.method, s.ingress + path, strings.NewReader(""), alice})
		checkProblem(t, row.name, r, row.status, "")
		if row.status == 503 && r.Header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", row.name)
		}
	}
	cmds := testenv.ReadAll(t, s.kafka, s.names.OrderCommands)
	if len(cmds) != 1 || string(cmds[0].Key) != alicePending {
		keys := []string{}
		for _, c := range cmds {
			keys = append(keys, string(c.Key))
		}
		t.Errorf("orders.commands.v1 holds commands for %v; want exactly one, for %s", keys, alicePending)
	}
}

// jwksServer serves a JWKS with k as kid "k1" and returns its URL.
func jwksServer(t testing.TB, k *rsa.PrivateKey) string {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"keys": []map[string]string{jwk("k1", k)}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(raw) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

// bearerFor is an Authorization header with a token for sub signed by k.
func bearerFor(t testing.TB, k *rsa.PrivateKey, sub string) http.Header {
	t.Helper()
	tk := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": sub, "iss": issuer, "aud": audience, "exp": time.Now().Add(time.Hour).Unix()})
	tk.Header["kid"] = "k1"
	str, err := tk.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return hdr("Authorization", "Bearer "+str)
}
