package intake

import (
	"net/http"
	"testing"

	"github.com/orderpipe/orderpipe/pkg/strictjson"
)

// FuzzParse: whatever the body and key, the decoder and validator never
// panic and answer either a valid order or a 4xx problem (never a 5xx); an
// accepted order validates and hashes deterministically.
// Run: go test -run '^$' -fuzz FuzzParse ./internal/intake/
func FuzzParse(f *testing.F) {
	f.Add([]byte(validBody), "key-1")
	f.Add([]byte(`{}`), "")
	f.Add([]byte(`[]`), "k")
	f.Add([]byte(`{"customerId":5,"shippingAddress":"x","lines":[{"productId":1,"quantity":"2"}],"currency":7}`), "k")
	f.Add([]byte(`{"lines":[null,{"quantity":1e400}],"shippingAddress":{"country":"us"}}`), "k\x00")
	f.Add([]byte(`{"customerId":"c","lines":[{"productId":"p","quantity":-1}],"currency":"usd","page":1}`), "k")
	f.Add([]byte(`{"customerId":"a","customerId":"b","page":1,"PAGE":2}`), "k")
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		if p := ValidateKey(key); p != nil && (p.Status < 400 || p.Status > 499) {
			t.Fatalf("key %q: status %d", key, p.Status)
		}
		o, p := Parse(body, "USD")
		if p == nil && strictjson.Check(body) != nil {
			t.Fatalf("accepted a body with a duplicated member or deep nesting: %q", body)
		}
		if p != nil {
			if p.Status < 400 || p.Status > 499 || p.Status == http.StatusInternalServerError {
				t.Fatalf("status %d for %q", p.Status, body)
			}
			return
		}
		if errs := Validate(o); len(errs) > 0 {
			t.Fatalf("Parse accepted an order Validate refuses: %v", errs)
		}
		if h := BodyHash(o); h != BodyHash(o) || len(h) != 64 {
			t.Fatal("BodyHash is not a stable SHA-256 hex")
		}
	})
}
