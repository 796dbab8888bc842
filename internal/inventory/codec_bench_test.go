package inventory

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/inventory/domain"
	"github.com/orderpipe/orderpipe/schemas"
)

// In-process micro benchmarks of the hot-path JSON: the command decoder and
// the record encoders (no Kafka; BenchmarkProcessor measures the whole).
//
//	go test -run '^$' -bench 'ParseCommand|Encode' -benchmem ./internal/inventory/

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
