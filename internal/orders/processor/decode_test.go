package processor

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

func sameResult(a, b schemas.InventoryResult) bool {
	ta, tb := a.At, b.At
	a.At, b.At = time.Time{}, time.Time{}
	_, oa := ta.Zone()
	_, ob := tb.Zone()
	return reflect.DeepEqual(a, b) && ta.Equal(tb) && oa == ob
}

// checkResult decodes data both ways: whenever the fast path answers, it
// answers what encoding/json does.
func checkResult(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	got, ok := fastResult(data)
	var want schemas.InventoryResult
	err := json.Unmarshal(data, &want)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("fast path accepted %q, encoding/json: %v", data, err)
	}
	if !sameResult(got, want) {
		t.Fatalf("%q:\nfast %+v\njson %+v", data, got, want)
	}
	return true
}

func TestResultDecoder(t *testing.T) {
	price := schemas.Money{Amount: 1850, Currency: "USD"}
	at := time.Date(2026, 11, 27, 9, 0, 0, 180000000, time.UTC)
	for _, v := range []schemas.InventoryResult{
		{Type: "reserved", OrderID: "9641801d-27d3-58f0-8727-def90e6415e8", LineNo: 2, ProductID: "p-1", Quantity: 3, UnitPrice: &price, At: at},
		{Type: "rejected", OrderID: "o", LineNo: 1, ProductID: "p", Quantity: 1, Reason: "insufficient_stock", At: at},
	} {
		b, _ := json.Marshal(v)
		if !checkResult(t, b) {
			t.Errorf("the fast path refused what encoding/json writes: %s", b)
		}
	}
	for _, s := range []string{
		`{"type":"reserved","orderId":"o","lineNo":1,"productId":"p","quantity":1,"unitPrice":{"amount":1,"currency":"USD"},"at":"2026-11-27T09:00:00Z"}`,
		` { "type" : "reserved" , "lineNo" : -0 } `,
		`{"type":"re\u0073erved"}`, `{"Type":"x"}`, `{"type":"a","type":"b"}`, `{"lineNo":01}`, `{"lineNo":1.0}`,
		`{"unitPrice":null}`, `{"unitPrice":{"amount":1,"amount":2}}`, `{"at":"2026-11-27T09:00:00.100Z"}`,
		`{"at":"2026-11-27T10:00:00+01:00"}`, `{}`, `{"productId":"ü"}`, `{"x":1}`, `{"type":"a"} x`, `{"lineNo":99999999999999999999}`,
	} {
		checkResult(t, []byte(s))
	}
}

func FuzzResultDecoder(f *testing.F) {
	f.Add([]byte(`{"type":"reserved","orderId":"o","lineNo":1,"productId":"p","quantity":1,"unitPrice":{"amount":1,"currency":"USD"},"at":"2026-11-27T09:00:00.5Z"}`))
	f.Add([]byte(`{"type":"rejected","reason":"timeout","at":"2026-11-27T10:00:00+01:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkResult(t, data) })
}

func sameRequest(a, b schemas.OrderRequest) bool {
	ta, tb := a.ReceivedAt, b.ReceivedAt
	a.ReceivedAt, b.ReceivedAt = time.Time{}, time.Time{}
	_, oa := ta.Zone()
	_, ob := tb.Zone()
	return reflect.DeepEqual(a, b) && ta.Equal(tb) && oa == ob
}

func checkRequest(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	got, ok := fastRequest(data)
	var want schemas.OrderRequest
	err := json.Unmarshal(data, &want)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("fast path accepted %q, encoding/json: %v", data, err)
	}
	if !sameRequest(got, want) {
		t.Fatalf("%q:\nfast %+v\njson %+v", data, got, want)
	}
	return true
}

func TestRequestDecoder(t *testing.T) {
	req := schemas.OrderRequest{OrderID: schemas.OrderID("c", "k"), Scope: "c", IdempotencyKey: "k", BodyHash: "ab",
		CustomerID: "c", Currency: "USD", ReceivedAt: time.Date(2026, 11, 27, 9, 0, 0, 123, time.UTC),
		ShippingAddress: schemas.Address{AddressLine1: "1 Main St", City: "Springfield", StateOrProvince: "IL", PostalCode: "62701", Country: "US"},
		Lines:           []schemas.Line{{ProductID: "p-1", Quantity: 2}, {ProductID: "p-2", Quantity: 1}}}
	b, _ := json.Marshal(req)
	if !checkRequest(t, b) {
		t.Errorf("the fast path refused what the ingress writes: %s", b)
	}
	req.ShippingAddress.AddressLine2 = "Apt 4"
	req.Lines = []schemas.Line{}
	b, _ = json.Marshal(req)
	if !checkRequest(t, b) {
		t.Errorf("the fast path refused %s", b)
	}
	for _, s := range []string{`{"lines":[]}`, `{"lines":null}`, `{"lines":[{}]}`, `{"lines":[{"quantity":1,"quantity":2}]}`,
		`{"shippingAddress":{"city":"Zürich"}}`, `{"scope":""}`, `{"lines":[1]}`, `{"lines":[{"productId":"a"},]}`} {
		checkRequest(t, []byte(s))
	}
}

func FuzzRequestDecoder(f *testing.F) {
	f.Add([]byte(`{"orderId":"o","scope":"s","idempotencyKey":"k","bodyHash":"h","customerId":"c","shippingAddress":{"addressLine1":"a","city":"b","stateOrProvince":"c","postalCode":"d","country":"US"},"lines":[{"productId":"p","quantity":1}],"currency":"USD","receivedAt":"2026-11-27T09:00:00.000000123Z"}`))
	f.Add([]byte(`{"lines":[],"shippingAddress":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkRequest(t, data) })
}

// BenchmarkDecode: the request and result decoders on what the ingress and
// the inventory-processor write (no Kafka; BenchmarkSagaWithInventory
// measures the whole).
func BenchmarkDecode(b *testing.B) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
	price := schemas.Money{Amount: 1850, Currency: "USD"}
	result, err := json.Marshal(schemas.InventoryResult{Type: schemas.ResultReserved, OrderID: "9641801d-27d3-58f0-8727-def90e6415e8",
		LineNo: 2, ProductID: "p-4711", Quantity: 3, UnitPrice: &price, At: at})
	if err != nil {
		b.Fatal(err)
	}
	request, err := json.Marshal(benchRequest(at))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("result", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := unmarshalResult(result); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := unmarshalRequest(request); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchRequest(at time.Time) schemas.OrderRequest {
	return schemas.OrderRequest{OrderID: schemas.OrderID("cust-42", "key-1"), Scope: "cust-42", IdempotencyKey: "key-1",
		BodyHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", CustomerID: "cust-42", Currency: "USD",
		ReceivedAt: at, ShippingAddress: schemas.Address{AddressLine1: "12 Main Street", City: "Springfield", StateOrProvince: "IL",
			PostalCode: "62701", Country: "US"},
		Lines: []schemas.Line{{ProductID: "prod-1", Quantity: 2}, {ProductID: "prod-77", Quantity: 1}, {ProductID: "prod-9", Quantity: 3}}}
}
