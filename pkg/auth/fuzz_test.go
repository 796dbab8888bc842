package auth

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzParseJWKS: any bytes read as a JWKS give keys or an error, never a
// panic, and never a key of a kind we do not verify with.
func FuzzParseJWKS(f *testing.F) {
	k := newKeys(f)
	f.Add(jwks(f, rsaJWK("r1", &k.rsa.PublicKey), ecJWK(f, "e1", &k.ec.PublicKey)))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AAAAAAAAAAAAAAAA"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		keys, err := ParseJWKS(raw)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no keys")
		}
	})
}

// FuzzAuthenticate: whatever the Authorization header, the verifier answers
// a principal or an error without panicking, and only a token that a key of
// the JWKS signed is accepted.
func FuzzAuthenticate(f *testing.F) {
	k := newKeys(f)
	v := newVerifier(f, newJWKSServer(f, jwks(f, rsaJWK("r1", &k.rsa.PublicKey))).URL)
	v.refetchEvery = time.Hour
	valid := sign(f, jwt.SigningMethodRS256, "r1", k.rsa, good("alice"))
	f.Add("Bearer " + valid)
	f.Add("Bearer " + valid[:len(valid)-3])
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")
	f.Add("Bearer eyJhbGciOiJIUzI1NiIsImtpZCI6InIxIn0.e30.AAAA")
	f.Add("Bearer ....")
	f.Add("bearer \x00")
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{header}
		p, err := v.Authenticate(r)
		if err == nil && (p.Subject != "alice" || header[7:] != valid) {
			t.Fatalf("accepted %q as %+v", header, p)
		}
	})
}
