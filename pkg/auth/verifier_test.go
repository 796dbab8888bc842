package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
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
)

const (
	testIssuer   = "https://idp.example"
	testAudience = "orderpipe"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Keys is a test identity provider: RSA and EC keys and their JWKS.
type keys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

func newKeys(t testing.TB) keys {
	t.Helper()
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keys{rsa: r, ec: e}
}

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(t testing.TB, kid string, k *ecdsa.PublicKey) map[string]string {
	raw, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:])}
}

func jwks(t testing.TB, ks ...map[string]string) []byte {
	raw, err := json.Marshal(map[string]any{"keys": ks})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sign(t testing.TB, m jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func good(sub string) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "iss": testIssuer, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix()}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// jwksServer serves a JWKS that the test can swap, counting fetches.
type jwksServer struct {
	*httptest.Server
	body    atomic.Value
	fetches atomic.Int64
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	s := &jwksServer{}
	s.body.Store(body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		_, _ = w.Write(s.body.Load().([]byte))
	}))
	t.Cleanup(s.Close)
	return s
}

func newVerifier(t testing.TB, url string) *Verifier {
	t.Helper()
	v, err := New(context.Background(), Config{JWKSURL: url, Issuer: testIssuer, Audience: testAudience, Refresh: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func authenticate(v *Verifier, header string) (Principal, error) {
	r := httptest.NewRequest("GET", "/", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return v.Authenticate(r)
}

// TestAttacks: every forged, misdirected or stale token is refused; the
// good ones (RS256, ES256) give their subject and scopes.
func TestAttacks(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	srv := newJWKSServer(t, jwks(t, rsaJWK("r1", &k.rsa.PublicKey), ecJWK(t, "e1", &k.ec.PublicKey)))
	v := newVerifier(t, srv.URL)
	other := newKeys(t)
	pubDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	noneTok := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	for _, tc := range []struct {
		name   string
		header string
		sub    string // "" = refused
		scopes []string
	}{
		{"RS256", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, good("alice")), "alice", nil},
		{"ES256 with scope", "Bearer " + sign(t, jwt.SigningMethodES256, "e1", k.ec, with(good("ops"), "scope", "catalog:admin other")), "ops", []string{"catalog:admin", "other"}},
		{"scp array", "bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("ops"), "scp", []string{"catalog:admin"})), "ops", []string{"catalog:admin"}},
		{"no header", "", "", nil},
		{"basic auth", "Basic YWxpY2U6cGFzcw==", "", nil},
		{"empty bearer", "Bearer ", "", nil},
		{"garbage", "Bearer not.a.jwt", "", nil},
		{"alg none", "Bearer " + noneTok(good("alice")), "", nil},
		{"alg none, signature stripped from a good token", "Bearer " + strings.Join(strings.Split(sign(t, jwt.SigningMethodRS256, "r1", k.rsa, good("alice")), ".")[:2], ".") + ".", "", nil},
		{"HS256 keyed with the RSA public key (confusion)", "Bearer " + sign(t, jwt.SigningMethodHS256, "r1", pubPEM, good("alice")), "", nil},
		{"HS256 keyed with the modulus", "Bearer " + sign(t, jwt.SigningMethodHS256, "r1", k.rsa.N.Bytes(), good("alice")), "", nil},
		{"RS512 (not allowed)", "Bearer " + sign(t, jwt.SigningMethodRS512, "r1", k.rsa, good("alice")), "", nil},
		{"PS256 (not allowed)", "Bearer " + sign(t, jwt.SigningMethodPS256, "r1", k.rsa, good("alice")), "", nil},
		{"signed by another key under our kid", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", other.rsa, good("alice")), "", nil},
		{"ES256 under the RSA kid", "Bearer " + sign(t, jwt.SigningMethodES256, "r1", k.ec, good("alice")), "", nil},
		{"unknown kid", "Bearer " + sign(t, jwt.SigningMethodRS256, "nope", k.rsa, good("alice")), "", nil},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("alice"), "exp", now.Add(-time.Hour).Unix())), "", nil},
		{"expired beyond the leeway", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("alice"), "exp", now.Add(-2*Leeway).Unix())), "", nil},
		{"not yet valid (nbf)", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("alice"), "nbf", now.Add(time.Hour).Unix())), "", nil},
		{"issued in the future (iat)", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("alice"), "iat", now.Add(time.Hour).Unix())), "", nil},
		{"no expiry", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("alice"), "exp", nil)), "", nil},
		{"wrong issuer", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("alice"), "iss", "https://evil.example")), "", nil},
		{"no issuer", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("alice"), "iss", nil)), "", nil},
		{"wrong audience", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("alice"), "aud", "other")), "", nil},
		{"audience list without ours", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("alice"), "aud", []string{"a", "b"})), "", nil},
		{"no subject", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("alice"), "sub", nil)), "", nil},
	} {
		p, err := authenticate(v, tc.header)
		switch {
		case tc.sub == "" && err == nil:
			t.Errorf("%s: accepted as %+v; want refused", tc.name, p)
		case tc.sub != "" && (err != nil || p.Subject != tc.sub || strings.Join(p.Scopes, " ") != strings.Join(tc.scopes, " ")):
			t.Errorf("%s: %+v, %v; want subject %s scopes %v", tc.name, p, err, tc.sub, tc.scopes)
		}
	}
	// A flood of made-up kids fetches the JWKS at most once per refetchEvery.
	before := srv.fetches.Load()
	for i := range 50 {
		_, _ = authenticate(v, "Bearer "+sign(t, jwt.SigningMethodRS256, "made-up-"+string(rune('a'+i%26)), k.rsa, good("x")))
	}
	if n := srv.fetches.Load() - before; n > 1 {
		t.Errorf("50 unknown kids fetched the JWKS %d times; want at most 1", n)
	}
}

// TestRotation: a key added to the JWKS is accepted as soon as a token
// names it (an unknown kid refetches); a key removed from it is refused
// after the next read.
func TestRotation(t *testing.T) {
	t.Parallel()
	oldK, newK := newKeys(t), newKeys(t)
	srv := newJWKSServer(t, jwks(t, rsaJWK("2026-01", &oldK.rsa.PublicKey)))
	v := newVerifier(t, srv.URL)
	v.refetchEvery = 0
	oldTok := "Bearer " + sign(t, jwt.SigningMethodRS256, "2026-01", oldK.rsa, good("alice"))
	newTok := "Bearer " + sign(t, jwt.SigningMethodRS256, "2026-02", newK.rsa, good("alice"))
	if _, err := authenticate(v, oldTok); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	if _, err := authenticate(v, newTok); err == nil {
		t.Fatal("new key before it is published: accepted")
	}
	// Rotation step 1: both keys published.
	srv.body.Store(jwks(t, rsaJWK("2026-01", &oldK.rsa.PublicKey), rsaJWK("2026-02", &newK.rsa.PublicKey)))
	if _, err := authenticate(v, newTok); err != nil {
		t.Fatalf("new key once published: %v", err)
	}
	if _, err := authenticate(v, oldTok); err != nil {
		t.Fatalf("old key while still published: %v", err)
	}
	// Step 2: the old key is withdrawn; the periodic refresh (here: the
	// next read) drops it.
	srv.body.Store(jwks(t, rsaJWK("2026-02", &newK.rsa.PublicKey)))
	if err := v.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticate(v, oldTok); err == nil {
		t.Fatal("old key after it was withdrawn: accepted")
	}
	if _, err := authenticate(v, newTok); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	// A JWKS that stops answering keeps the last good keys.
	srv.body.Store([]byte("{oops"))
	if err := v.load(context.Background()); err == nil {
		t.Fatal("a broken JWKS loaded")
	}
	if _, err := authenticate(v, newTok); err != nil {
		t.Fatalf("after a failed refresh: %v", err)
	}
}

func TestParseJWKSRefusesWeakKeys(t *testing.T) {
	t.Parallel()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseJWKS(jwks(t, rsaJWK("weak", &small.PublicKey))); err == nil {
		t.Error("a 1024-bit RSA key was accepted")
	}
	bad := rsaJWK("e1", &newKeys(t).rsa.PublicKey)
	bad["e"] = b64([]byte{1})
	if _, err := ParseJWKS(jwks(t, bad)); err == nil {
		t.Error("RSA e=1 was accepted")
	}
	for _, raw := range []string{`{}`, `{"keys":[]}`, `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, `[]`, `null`} {
		if _, err := ParseJWKS([]byte(raw)); err == nil {
			t.Errorf("%s: accepted", raw)
		}
	}
}

func TestRequire(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	v := newVerifier(t, newJWKSServer(t, jwks(t, rsaJWK("r1", &k.rsa.PublicKey))).URL)
	h := Require(v, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(FromContext(r.Context()).Subject))
	}), "catalog:admin")
	for _, tc := range []struct {
		name, header string
		status       int
		challenge    string
	}{
		{"no token", "", 401, "Bearer"},
		{"bad token", "Bearer x.y.z", 401, `Bearer error="invalid_token"`},
		{"no scope", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, good("c-1")), 403, `Bearer error="insufficient_scope", scope="catalog:admin"`},
		{"admin", "Bearer " + sign(t, jwt.SigningMethodRS256, "r1", k.rsa, with(good("ops"), "scope", "catalog:admin")), 200, ""},
	} {
		r := httptest.NewRequest("PUT", "/api/v1/admin/products/p-1", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.challenge {
			t.Errorf("%s: %d %q; want %d %q", tc.name, w.Code, w.Header().Get("WWW-Authenticate"), tc.status, tc.challenge)
		}
		if tc.status != 200 && w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: Content-Type %q", tc.name, w.Header().Get("Content-Type"))
		}
		if tc.status == 200 && w.Body.String() != "ops" {
			t.Errorf("%s: the handler saw subject %q", tc.name, w.Body.String())
		}
	}
}
