package intake

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzFastDecode: whenever the fast decoder accepts a body, encoding/json
// decodes it without error to the same Order.
func FuzzFastDecode(f *testing.F) {
	for _, seed := range []string{validBody, `{}`, `{"lines":[null,{"quantity":0}]}`, `{"CustomerId":"x"}`,
		`{"x":{"a":[1,2.5e-3,"\u00e9\n",true,false,null]},"customerId":"c"}`, `{"lines":[]}`, `{"lines":null}`,
		`{"customerId":"a","customerId":"b"}`, `{"lines":[{"quantity":-0}]}`, `{"lines":[{"quantity":007}]}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := fastDecode(body)
		if !ok {
			return
		}
		var slow Order
		if err := json.Unmarshal(body, &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json: %v", body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", body, fast, slow)
		}
	})
}

func TestFastDecodeTakesTheCommonShape(t *testing.T) {
	if _, ok := fastDecode([]byte(validBody)); !ok {
		t.Fatal("the common shape fell back to encoding/json")
	}
	for _, body := range []string{`{"CustomerId":"x"}`, `{"customerId":"a\"b"}`, `{"lines":[{"quantity":1.0}]}`, `{"lines":[],"lines":[]}`, `{} x`} {
		if _, ok := fastDecode([]byte(body)); ok {
			t.Errorf("%s: taken by the fast path", body)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	body := []byte(`{"customerId":"cust-42","shippingAddress":{"addressLine1":"12 Main Street","city":"Springfield","stateOrProvince":"IL","postalCode":"62701","country":"US"},"lines":[{"productId":"prod-1","quantity":2},{"productId":"prod-77","quantity":1},{"productId":"prod-9","quantity":3}],"currency":"USD"}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := fastDecode(body); !ok {
				b.Fatal("fell back")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var o Order
			if err := json.Unmarshal(body, &o); err != nil {
				b.Fatal(err)
			}
		}
	})
}
