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
