package processor

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/orders/saga"
	"github.com/orderpipe/orderpipe/schemas"
)

// In-process micro benchmarks of the saga's hot-path JSON: the request and
// result decoders and the record encoders (no Kafka;
// BenchmarkSagaWithInventory measures the whole).
//
//	go test -run '^$' -bench 'Decode|Encode' -benchmem ./internal/orders/processor/

func BenchmarkDecode(b *testing.B) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
	price := schemas.Money{Amount: 1850, Currency: "USD"}
	result := mustJSON(b, schemas.InventoryResult{Type: schemas.ResultReserved, OrderID: "9641801d-27d3-58f0-8727-def90e6415e8",
		LineNo: 2, ProductID: "p-4711", Quantity: 3, UnitPrice: &price, At: at})
	request := mustJSON(b, benchRequest(at))
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

func BenchmarkEncode(b *testing.B) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
	req := benchRequest(at)
	total := schemas.Money{Amount: 5550, Currency: "USD"}
	priced := []schemas.PricedLine{{LineNo: 1, ProductID: "p-1", Quantity: 2, UnitPrice: total, LineTotal: total},
		{LineNo: 2, ProductID: "p-77", Quantity: 1, UnitPrice: total, LineTotal: total}}
	ev := schemas.OrderEvent{Type: schemas.TypeOrderConfirmed, OrderID: req.OrderID, Version: 3, CustomerID: req.CustomerID,
		OccurredAt: at, PricedLines: priced, Total: &total, Currency: "USD"}
	cmd := schemas.InventoryCommand{Type: schemas.CmdReserve, ProductID: "p-4711", OrderID: req.OrderID, LineNo: 2, Quantity: 3,
		Currency: "USD", IssuedAt: at}
	st := schemas.OrderState{OrderID: req.OrderID, Version: 3, Status: schemas.StatusConfirmed, CustomerID: req.CustomerID,
		ShippingAddress: req.ShippingAddress, Lines: req.Lines, Currency: "USD", PricedLines: priced, Total: &total,
		CreatedAt: at, UpdatedAt: at.Add(time.Second)}
	sg := saga.Saga{OrderID: req.OrderID, CustomerID: req.CustomerID, IdempotencyKey: req.IdempotencyKey, Address: req.ShippingAddress,
		Lines: req.Lines, Currency: "USD", Version: 2, Status: "PENDING", PlacedAt: at, Deadline: at.Add(30 * time.Second),
		Answers: []saga.Answer{{State: "reserved", UnitPrice: 1850}, {}}}
	buf := make([]byte, 0, 1024)
	for _, c := range []struct {
		name string
		enc  func([]byte) []byte
	}{
		{"event", func(b []byte) []byte { return appendEvent(b, ev) }},
		{"command", func(b []byte) []byte { return appendCommand(b, cmd) }},
		{"state", func(b []byte) []byte { return appendState(b, st) }},
		{"saga", func(b []byte) []byte { return appendSaga(b, sg) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf = c.enc(buf[:0])
			}
		})
	}
}

func benchRequest(at time.Time) schemas.OrderRequest {
	return schemas.OrderRequest{OrderID: schemas.OrderID("cust-42", "key-1"), Scope: "cust-42", IdempotencyKey: "key-1",
		BodyHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", CustomerID: "cust-42", Currency: "USD",
		ReceivedAt: at, ShippingAddress: schemas.Address{AddressLine1: "12 Main Street", City: "Springfield", StateOrProvince: "IL",
			PostalCode: "62701", Country: "US"},
		Lines: []schemas.Line{{ProductID: "prod-1", Quantity: 2}, {ProductID: "prod-77", Quantity: 1}, {ProductID: "prod-9", Quantity: 3}}}
}

func mustJSON(b *testing.B, v any) []byte {
	b.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return data
}
