package inventory

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

func TestParseCommandFastPath(t *testing.T) {
	d, a := int64(-5), int64(40)
	for _, c := range []schemas.InventoryCommand{
		{Type: schemas.CmdReserve, ProductID: "p1", OrderID: "o-1", LineNo: 2, Quantity: 3, Currency: "USD", IssuedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
		{Type: schemas.CmdAdjust, ProductID: "p1", AdjustmentID: "a", Delta: &d, Reason: "count"},
		{Type: schemas.CmdAdjust, ProductID: "p1", AdjustmentID: "a", Absolute: &a},
	} {
		b, _ := json.Marshal(c)
		got, ok := fastCommand(b)
		if !ok {
			t.Fatalf("fast path refused %s", b)
		}
		if !reflect.DeepEqual(normalize(got), normalize(c)) {
			t.Errorf("fast path decoded %s as %+v", b, got)
		}
	}
}

func normalize(c schemas.InventoryCommand) schemas.InventoryCommand {
	c.IssuedAt = c.IssuedAt.UTC()
	return c
}

// FuzzParseCommand: whatever the fast path accepts, encoding/json accepts
// too, with the same result.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		`{"type":"reserve","productId":"p","orderId":"o","lineNo":1,"quantity":2,"currency":"USD","issuedAt":"2026-01-02T03:04:05Z"}`,
		`{"type":"adjust","productId":"p","adjustmentId":"a","delta":-3,"absolute":null}`,
		`{"TYPE":"reserve"}`, `{"quantity":1.0}`, `{"quantity":01}`, `{"orderId":"a\"b"}`, ` { } `, `{"lineNo":99999999999999999999}`,
		`{"type":"reserve",}`, `{"type":"reserve"} x`, `{"issuedAt":"2026-13-01T00:00:00Z"}`, `{"reason":"ü"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := fastCommand(data)
		if !ok {
			return
		}
		var want schemas.InventoryCommand
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", data, fast, want)
		}
	})
}

// BenchmarkParseCommand: the fast path on a reserve command as the saga
// writes it (no Kafka; BenchmarkProcessor measures the whole).
func BenchmarkParseCommand(b *testing.B) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
	data, err := json.Marshal(schemas.InventoryCommand{Type: schemas.CmdReserve, ProductID: "p-4711",
		OrderID: "9641801d-27d3-58f0-8727-def90e6415e8", LineNo: 2, Quantity: 3, Currency: "USD", IssuedAt: at})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseCommand(data); err != nil {
			b.Fatal(err)
		}
	}
}
