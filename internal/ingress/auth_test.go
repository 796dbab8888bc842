package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestJWTAuth: with a JWKS configured, every order route needs a valid
// RS256/ES256 bearer token with the right issuer and audience, and the
// token's subject is the idempotency scope and the owner of the order.
func TestJWTAuth(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, err := ecKey.PublicKey.Bytes() // 0x04 ‖ X ‖ Y
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(ecPub[1:33]), "y": b64(ecPub[33:])},
	}})
	// The JWKS is served over HTTP on loopback (AUTH_JWKS_URL); a second
	// ingress reads the same keys from a file (AUTH_JWKS_FILE).
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	defer jwksSrv.Close()
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwks, 0o600); err != nil {
		t.Fatal(err)
	}

	k := testenv.Kafka(t).Config
	svctest.ApplyTopics(t, k)
	cfg := testConfig(k, redisConfig(testenv.Redis(t)))
	cfg.Auth.Issuer, cfg.Auth.Audience = "https://idp.example", "orderpipe"
	byURL, byFile := cfg, cfg
	byURL.Auth.JWKSURL = jwksSrv.URL
	byFile.Auth.JWKSFile = file
	hu := startIngress(t, byURL)
	hf := startIngress(t, byFile)

	sign := func(method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(method, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(sub string) jwt.MapClaims {
		return jwt.MapClaims{"sub": sub, "iss": cfg.Auth.Issuer, "aud": cfg.Auth.Audience, "exp": time.Now().Add(time.Hour).Unix()}
	}
	bearer := func(tok string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "Idempotency-Key": "auth-key"}
	}
	alice := sign(jwt.SigningMethodRS256, "r1", rsaKey, claims("alice"))
	bob := sign(jwt.SigningMethodES256, "e1", ecKey, claims("bob"))

	for name, h := range map[string]*harness{"jwks url": hu, "jwks file": hf} {
		if r := h.post("auth-key", orderBody("cust-a", 1)); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: no token = %d %s; want 401", name, r.Status, r.Raw)
		}
		if r := h.do("POST", "/api/v1/orders", orderBody("cust-a", 1), bearer(alice)); r.Status != 403 {
			t.Fatalf("%s: ordering as another customer = %d %s; want 403", name, r.Status, r.Raw)
		}
		r := h.do("POST", "/api/v1/orders", orderBody("alice", 1), bearer(alice))
		want := schemas.OrderID("alice", "auth-key") // the subject is the scope (and the customerId)
		if r.Status != 202 || r.Body["orderId"] != want {
			t.Fatalf("%s: RS256 token = %d %s; want 202 with orderId %s", name, r.Status, r.Raw, want)
		}
		if g := h.do("GET", "/api/v1/orders/"+want, "", bearer(alice)); g.Status != 200 {
			t.Fatalf("%s: owner GET = %d %s", name, g.Status, g.Raw)
		}
		if g := h.do("GET", "/api/v1/orders/"+want, "", bearer(bob)); g.Status != 404 {
			t.Fatalf("%s: ES256 token of another subject GET = %d %s; want 404", name, g.Status, g.Raw)
		}
		if g := h.do("GET", "/api/v1/orders?customerId=alice", "", bearer(bob)); g.Status != 403 {
			t.Fatalf("%s: listing another subject's orders = %d %s; want 403", name, g.Status, g.Raw)
		}
	}
	bad := map[string]string{
		"wrong audience": sign(jwt.SigningMethodRS256, "r1", rsaKey, jwt.MapClaims{"sub": "a", "iss": cfg.Auth.Issuer, "aud": "other", "exp": time.Now().Add(time.Hour).Unix()}),
		"wrong issuer":   sign(jwt.SigningMethodRS256, "r1", rsaKey, jwt.MapClaims{"sub": "a", "iss": "evil", "aud": cfg.Auth.Audience, "exp": time.Now().Add(time.Hour).Unix()}),
		"expired":        sign(jwt.SigningMethodRS256, "r1", rsaKey, jwt.MapClaims{"sub": "a", "iss": cfg.Auth.Issuer, "aud": cfg.Auth.Audience, "exp": time.Now().Add(-time.Hour).Unix()}),
		"no expiry":      sign(jwt.SigningMethodRS256, "r1", rsaKey, jwt.MapClaims{"sub": "a", "iss": cfg.Auth.Issuer, "aud": cfg.Auth.Audience}),
		"no subject":     sign(jwt.SigningMethodRS256, "r1", rsaKey, jwt.MapClaims{"iss": cfg.Auth.Issuer, "aud": cfg.Auth.Audience, "exp": time.Now().Add(time.Hour).Unix()}),
		"HS256":          sign(jwt.SigningMethodHS256, "r1", []byte("secret"), claims("a")),
		"unknown kid":    sign(jwt.SigningMethodRS256, "nope", rsaKey, claims("a")),
		"garbage":        "not.a.jwt",
	}
	for name, tok := range bad {
		if r := hu.do("POST", "/api/v1/orders", orderBody("cust-a", 1), bearer(tok)); r.Status != 401 {
			t.Errorf("%s token = %d %s; want 401", name, r.Status, r.Raw)
		}
	}
}
