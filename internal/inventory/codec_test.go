package inventory

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderpipe/orderpipe/internal/inventory/domain"
	"github.com/orderpipe/orderpipe/schemas"
)

// The hand-written encoders must produce exactly what encoding/json does.
func TestEncodersMatchEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 30, 1, 123456789, time.UTC)
	price := schemas.Money{Amount: 1299, Currency: "USD"}
	for _, id := range []string{"plain", `quo"te`, "back\\slash", "tab\t", "ünï", "<b>&", string([]byte{0xff, 'x'}), ""} {
		results := []schemas.InventoryResult{
			{Type: schemas.ResultReserved, OrderID: id, LineNo: 3, ProductID: id, Quantity: 2, UnitPrice: &price, At: at},
			{Type: schemas.ResultRejected, OrderID: id, LineNo: 0, ProductID: "p", Quantity: 9, Reason: id, At: at.In(time.FixedZone("x", 3600))},
		}
		for _, v := range results {
			same(t, appendResult(nil, &v), v)
		}
		snap := schemas.StockSnapshot{ProductID: id, OnHand: 10, Reserved: -3, Available: 13, Version: 1 << 40, UpdatedAt: at}
		same(t, appendSnapshot(nil, &snap), snap)
		same(t, appendStock(nil, domain.Stock{OnHand: 1, Reserved: 2, Sold: 3, Adjusted: 4, Version: 5, UpdatedAt: at}),
			domain.Stock{OnHand: 1, Reserved: 2, Sold: 3, Adjusted: 4, Version: 5, UpdatedAt: at})
		line := domain.Line{Status: domain.LineRejected, Quantity: 4, UnitPrice: schemas.Money{Currency: id}, Reason: id, At: at, UpdatedAt: at.Add(time.Second)}
		same(t, appendLine(nil, line), line)
		line.Reason = ""
		same(t, appendLine(nil, line), line)
	}
	same(t, appendStock(nil, domain.Stock{}), domain.Stock{})
}

func same(t *testing.T, got []byte, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("encoder wrote\n%s\nencoding/json writes\n%s", got, want)
	}
}

func TestUUIDv5(t *testing.T) {
	for _, s := range []string{"", "result\x00o\x001", string(make([]byte, 300))} {
		if got, want := uuidV5(eventNamespace, []byte(s)), uuid.NewSHA1(eventNamespace, []byte(s)); got != want {
			t.Errorf("uuidV5(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestHexUUID(t *testing.T) {
	for _, s := range []string{"result\x00o\x001", "stock\x00p\x0042", ""} {
		id := uuid.NewSHA1(eventNamespace, []byte(s))
		buf := make([]byte, 36)
		hexUUID(buf, id)
		if string(buf) != id.String() {
			t.Errorf("hexUUID = %s, want %s", buf, id)
		}
	}
}

// BenchmarkEncode: the record encoders, in process.
func BenchmarkEncode(b *testing.B) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
	price := schemas.Money{Amount: 1299, Currency: "USD"}
	res := schemas.InventoryResult{Type: schemas.ResultReserved, OrderID: "9641801d-27d3-58f0-8727-def90e6415e8", LineNo: 2,
		ProductID: "p-4711", Quantity: 3, UnitPrice: &price, At: at}
	snap := schemas.StockSnapshot{ProductID: "p-4711", OnHand: 1 << 40, Reserved: 12, Available: 1<<40 - 12, Version: 77, UpdatedAt: at}
	stock := domain.Stock{OnHand: 1 << 40, Reserved: 12, Sold: 3, Adjusted: 1, Version: 77, UpdatedAt: at}
	line := domain.Line{Status: domain.LineReserved, Quantity: 3, UnitPrice: price, At: at, UpdatedAt: at}
	buf := make([]byte, 0, 512)
	for _, c := range []struct {
		name string
		enc  func([]byte) []byte
	}{
		{"result", func(b []byte) []byte { return appendResult(b, &res) }},
		{"snapshot", func(b []byte) []byte { return appendSnapshot(b, &snap) }},
		{"stock", func(b []byte) []byte { return appendStock(b, stock) }},
		{"line", func(b []byte) []byte { return appendLine(b, line) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf = c.enc(buf[:0])
			}
		})
	}
}
