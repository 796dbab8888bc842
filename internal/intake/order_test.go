package intake

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

const validBody = `{"customerId":"c-1","shippingAddress":{"addressLine1":"1 Main St","city":"Springfield","stateOrProvince":"IL","postalCode":"62701","country":"US"},"lines":[{"productId":"p-1","quantity":2}]}`

func TestParseValid(t *testing.T) {
	o, p := Parse([]byte(validBody), "USD")
	if p != nil {
		t.Fatalf("valid body refused: %+v", p)
	}
	if o.Currency != "USD" || o.CustomerID != "c-1" || len(o.Lines) != 1 || o.Lines[0].Quantity != 2 {
		t.Fatalf("parsed %+v", o)
	}
	// Unknown fields (the seed's clients send some) are ignored; codes are upper-cased.
	o2, p := Parse([]byte(`{"page":3,"sessionId":"x",`+validBody[1:len(validBody)-1]+`,"currency":"eur","extra":{"a":[1]}}`), "USD")
	if p != nil || o2.Currency != "EUR" {
		t.Fatalf("unknown fields: %+v %+v", o2, p)
	}
}

func TestParseListsEveryInvalidField(t *testing.T) {
	long := strings.Repeat("x", 201)
	many := `[` + strings.Repeat(`{"productId":"p","quantity":1},`, 100) + `{"productId":"p","quantity":1}]`
	cases := []struct {
		name   string
		body   string
		status int
		fields []string
	}{
		{"empty body", ``, 400, nil},
		{"not json", `customerId=1`, 400, nil},
		{"truncated", `{"customerId":`, 400, nil},
		{"array", `[]`, 400, []string{"(body)"}},
		{"empty object", `{}`, 400, []string{"customerId", "shippingAddress.addressLine1", "shippingAddress.city",
			"shippingAddress.stateOrProvince", "shippingAddress.postalCode", "shippingAddress.country", "lines"}},
		{"wrong types", `{"customerId":5,"shippingAddress":"x","lines":[{"productId":1,"quantity":"2"}],"currency":7}`, 400,
			[]string{"customerId", "currency", "shippingAddress", "lines[0].productId", "lines[0].quantity"}},
		{"fractional quantity", strings.Replace(validBody, `"quantity":2`, `"quantity":1.5`, 1), 400, []string{"lines[0].quantity"}},
		{"huge quantity", strings.Replace(validBody, `"quantity":2`, `"quantity":1e30`, 1), 400, []string{"lines[0].quantity"}},
		{"zero quantity", strings.Replace(validBody, `"quantity":2`, `"quantity":0`, 1), 400, []string{"lines[0].quantity"}},
		{"quantity 10000", strings.Replace(validBody, `"quantity":2`, `"quantity":10000`, 1), 400, []string{"lines[0].quantity"}},
		{"bad country and currency", strings.Replace(validBody, `"US"`, `"XX"`, 1)[:len(validBody)-1] + `,"currency":"ABC"}`, 400,
			[]string{"shippingAddress.country", "currency"}},
		{"101 lines", strings.Replace(validBody, `[{"productId":"p-1","quantity":2}]`, many, 1), 400, []string{"lines"}},
		{"no lines", strings.Replace(validBody, `[{"productId":"p-1","quantity":2}]`, `[]`, 1), 400, []string{"lines"}},
		{"too long", strings.Replace(validBody, `"1 Main St"`, `"`+long+`"`, 1), 400, []string{"shippingAddress.addressLine1"}},
		{"space in id", strings.Replace(validBody, `"c-1"`, `"c 1"`, 1), 400, []string{"customerId"}},
		{"null lines entry", strings.Replace(validBody, `[{"productId":"p-1","quantity":2}]`, `[null]`, 1), 400, []string{"lines[0].productId", "lines[0].quantity"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, p := Parse([]byte(tc.body), "USD")
			if p == nil {
				t.Fatal("accepted")
			}
			if p.Status != tc.status {
				t.Fatalf("status %d, want %d (%+v)", p.Status, tc.status, p)
			}
			var got []string
			for _, e := range p.Errors {
				got = append(got, e.Field)
			}
			for _, f := range tc.fields {
				if !slices.Contains(got, f) {
					t.Errorf("missing error for %s; got %v", f, got)
				}
			}
			if tc.fields != nil && len(got) != len(tc.fields) {
				t.Errorf("errors %v, want exactly %v", got, tc.fields)
			}
		})
	}
}

func TestValidateKey(t *testing.T) {
	if p := ValidateKey(""); p == nil || p.Status != http.StatusBadRequest || p.Type != TypeMissingKey {
		t.Fatalf("missing key: %+v", p)
	}
	if p := ValidateKey(strings.Repeat("k", 256)); p == nil || p.Status != http.StatusBadRequest {
		t.Fatalf("256-char key: %+v", p)
	}
	if p := ValidateKey(strings.Repeat("k", 255)); p != nil {
		t.Fatalf("255-char key refused: %+v", p)
	}
}

func TestBodyHashIsCanonical(t *testing.T) {
	a, _ := Parse([]byte(validBody), "USD")
	reordered := `{"lines":[{"quantity":2,"productId":"p-1"}],"unknown":1,"shippingAddress":{"country":"us","postalCode":"62701","stateOrProvince":"IL","city":"Springfield","addressLine1":"1 Main St"},"customerId":"c-1","currency":"USD"}`
	b, p := Parse([]byte(reordered), "EUR")
	if p != nil {
		t.Fatal(p)
	}
	if BodyHash(a) != BodyHash(b) {
		t.Fatal("same order, different hash")
	}
	b.Lines[0].Quantity = 3
	if BodyHash(a) == BodyHash(b) {
		t.Fatal("different order, same hash")
	}
}

func TestIdempotencyRecordRoundTrip(t *testing.T) {
	for _, r := range []record{
		{token: "abc", bodyHash: "h", scope: "s|x", customerID: "c|1"},
		{accepted: true, bodyHash: "h", scope: "", customerID: "c"},
	} {
		got, err := decodeRecord(r.encode())
		if err != nil || got.scope != r.scope || got.customerID != r.customerID || got.accepted != r.accepted || got.token != r.token {
			t.Fatalf("round trip of %+v = %+v, %v", r, got, err)
		}
	}
	if _, err := decodeRecord("garbage"); err == nil {
		t.Fatal("garbage decoded")
	}
}
