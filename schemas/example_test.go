package schemas_test

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/orderpipe/orderpipe/schemas"
)

// A downstream consumer of orders.events.v1 decodes a value by its ce_type
// header and skips types it does not know: new event types may appear within
// v1.
func Example_decodeOrderEvent() {
	value, _ := os.ReadFile("examples/order-confirmed.v1.json")
	ceType := schemas.TypeOrderConfirmed // the record's ce_type header

	status, known := schemas.StatusOfEvent(ceType)
	if !known {
		return // a newer event type: skip it, commit its offset
	}
	var ev schemas.OrderEvent
	if err := json.Unmarshal(value, &ev); err != nil {
		fmt.Println("undecodable, dead-letter it:", err)
		return
	}
	var sum int64
	for _, l := range ev.PricedLines {
		sum += l.LineTotal.Amount
	}
	fmt.Printf("order %s is %s at version %d: %d lines, total %d %s (Σ lines %d)\n",
		ev.OrderID, status, ev.Version, len(ev.PricedLines), ev.Total.Amount, ev.Total.Currency, sum)
	// Output:
	// order 9641801d-27d3-58f0-8727-def90e6415e8 is CONFIRMED at version 2: 3 lines, total 32597 USD (Σ lines 32597)
}

// Producers check what they emit against the contract in their tests.
func ExampleValidator() {
	v, err := schemas.NewValidator(schemas.Strict())
	if err != nil {
		panic(err)
	}
	good, _ := os.ReadFile("examples/order-state.v1.confirmed.json")
	fmt.Println(v.ValidateRecord(schemas.TypeOrderState, good) == nil)
	bad := []byte(`{"productId":"p","name":"n","categoryId":"c","price":{"amount":9.99,"currency":"USD"},"active":true,"version":1,"updatedAt":"2026-11-27T09:00:00Z"}`)
	fmt.Println(v.ValidateRecord(schemas.TypeProduct, bad) == nil)
	// Output:
	// true
	// false
}
