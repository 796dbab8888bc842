package schemas_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

func validators(t *testing.T) (open, strict *schemas.Validator) {
	t.Helper()
	open, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	strict, err = schemas.NewValidator(schemas.Strict())
	if err != nil {
		t.Fatal(err)
	}
	return open, strict
}

// exampleSchema maps an example file (examples/<schema>[.<variant>].json) to its schema file.
func exampleSchema(name string) string {
	base := strings.TrimSuffix(filepath.Base(name), ".json")
	i := strings.Index(base, ".v1")
	return base[:i+len(".v1")] + ".json"
}

// goTypeFor returns a pointer to a fresh Go value of the type a schema describes.
func goTypeFor(schema string) any {
	switch schema {
	case schemas.SchemaOrderRequest:
		return new(schemas.OrderRequest)
	case schemas.SchemaOrderCommand:
		return new(schemas.OrderCommand)
	case schemas.SchemaOrderPlaced, schemas.SchemaOrderConfirmed, schemas.SchemaOrderRejected, schemas.SchemaOrderCancelled:
		return new(schemas.OrderEvent)
	case schemas.SchemaOrderState:
		return new(schemas.OrderState)
	case schemas.SchemaInventoryCommand:
		return new(schemas.InventoryCommand)
	case schemas.SchemaInventoryResult:
		return new(schemas.InventoryResult)
	case schemas.SchemaStockSnapshot:
		return new(schemas.StockSnapshot)
	case schemas.SchemaProduct:
		return new(schemas.Product)
	case schemas.SchemaHeaders:
		return new(map[string]string)
	}
	return nil
}

// TestExamplesValidate: every example record validates against its schema
// (also strictly: it uses no undeclared property), decodes into its Go type
// with no unknown field, and re-encodes to a value that still validates.
// Every record schema has at least one example.
func TestExamplesValidate(t *testing.T) {
	open, strict := validators(t)
	files, err := filepath.Glob("examples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	covered := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			schema := exampleSchema(f)
			covered[schema] = true
			if err := open.Validate(schema, b); err != nil {
				t.Fatal(err)
			}
			if err := strict.Validate(schema, b); err != nil {
				t.Fatalf("strict: %v", err)
			}
			v := goTypeFor(schema)
			if v == nil {
				t.Fatalf("no Go type for %s", schema)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Fatalf("example does not decode into %T: %v", v, err)
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if err := strict.Validate(schema, again); err != nil {
				t.Fatalf("Go re-encoding of the example: %v\n%s", err, again)
			}
		})
	}
	names, _ := fs.Glob(schemas.Files, "json/*.json")
	for _, n := range names {
		s := filepath.Base(n)
		if s == "common.v1.json" || s == schemas.SchemaOrderEvent {
			continue
		}
		if !covered[s] {
			t.Errorf("schema %s has no example in examples/", s)
		}
	}
}

var (
	t0      = time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
	orderID = schemas.OrderID("customer-42", "key-1")
	address = schemas.Address{AddressLine1: "1 Market Street", City: "San Francisco", StateOrProvince: "CA", PostalCode: "94105", Country: "US"}
	lines   = []schemas.Line{{ProductID: "p-1", Quantity: 2}, {ProductID: "p-2", Quantity: 1}, {ProductID: "p-3", Quantity: 3}}
	usd     = func(n int64) schemas.Money { return schemas.Money{Amount: n, Currency: "USD"} }
	priced  = []schemas.PricedLine{
		{LineNo: 1, ProductID: "p-1", Quantity: 2, UnitPrice: usd(250), LineTotal: usd(500)},
		{LineNo: 2, ProductID: "p-2", Quantity: 1, UnitPrice: usd(1999), LineTotal: usd(1999)},
		{LineNo: 3, ProductID: "p-3", Quantity: 3, UnitPrice: usd(100), LineTotal: usd(300)},
	}
	total = usd(2799)
)

func i64(n int64) *int64 { return &n }

// goRecords are records built the way the producers build them (Go values,
// encoding/json), one or more per ce_type.
func goRecords() []struct {
	ceType string
	value  any
} {
	rejected := []schemas.RejectedLine{{LineNo: 2, ProductID: "p-2", Reason: schemas.ReasonInsufficientStock}}
	state := schemas.OrderState{OrderID: orderID, Version: 1, Status: schemas.StatusPending, CustomerID: "customer-42",
		ShippingAddress: address, Lines: lines, Currency: "USD", CreatedAt: t0, UpdatedAt: t0}
	confirmed := state
	confirmed.Version, confirmed.Status, confirmed.PricedLines, confirmed.Total = 2, schemas.StatusConfirmed, priced, &total
	rejectedState := state
	rejectedState.Version, rejectedState.Status, rejectedState.Reason, rejectedState.RejectedLines = 2, schemas.StatusRejected, schemas.ReasonInsufficientStock, rejected
	cancelledState := state
	cancelledState.Version, cancelledState.Status, cancelledState.Reason = 2, schemas.StatusCancelled, "customer asked"
	return []struct {
		ceType string
		value  any
	}{
		{schemas.TypeOrderRequested, schemas.OrderRequest{OrderID: orderID, Scope: "customer-42", IdempotencyKey: "key-1",
			BodyHash: strings.Repeat("ab", 32), CustomerID: "customer-42", ShippingAddress: address, Lines: lines, Currency: "USD", ReceivedAt: t0}},
		{schemas.TypeOrderCancelReq, schemas.OrderCommand{Type: schemas.CommandCancel, OrderID: orderID, CommandID: "cmd-1", RequestedAt: t0}},
		{schemas.TypeOrderPlaced, schemas.OrderEvent{Type: schemas.TypeOrderPlaced, OrderID: orderID, Version: 1, CustomerID: "customer-42",
			OccurredAt: t0, IdempotencyKey: "key-1", ShippingAddress: &address, Lines: lines, Currency: "USD"}},
		{schemas.TypeOrderConfirmed, schemas.OrderEvent{Type: schemas.TypeOrderConfirmed, OrderID: orderID, Version: 2, CustomerID: "customer-42",
			OccurredAt: t0, Currency: "USD", PricedLines: priced, Total: &total}},
		{schemas.TypeOrderRejected, schemas.OrderEvent{Type: schemas.TypeOrderRejected, OrderID: orderID, Version: 2, CustomerID: "customer-42",
			OccurredAt: t0, Reason: schemas.ReasonInsufficientStock, RejectedLines: rejected}},
		{schemas.TypeOrderRejected, schemas.OrderEvent{Type: schemas.TypeOrderRejected, OrderID: orderID, Version: 2, CustomerID: "customer-42",
			OccurredAt: t0, Reason: schemas.ReasonTimeout}},
		{schemas.TypeOrderCancelled, schemas.OrderEvent{Type: schemas.TypeOrderCancelled, OrderID: orderID, Version: 2, CustomerID: "customer-42", OccurredAt: t0}},
		{schemas.TypeOrderState, state},
		{schemas.TypeOrderState, confirmed},
		{schemas.TypeOrderState, rejectedState},
		{schemas.TypeOrderState, cancelledState},
		{schemas.TypeInventoryCommand, schemas.InventoryCommand{Type: schemas.CmdReserve, ProductID: "p-1", OrderID: orderID, LineNo: 1, Quantity: 2, Currency: "USD", IssuedAt: t0}},
		{schemas.TypeInventoryCommand, schemas.InventoryCommand{Type: schemas.CmdRelease, ProductID: "p-1", OrderID: orderID, LineNo: 1, Quantity: 2, IssuedAt: t0}},
		{schemas.TypeInventoryCommand, schemas.InventoryCommand{Type: schemas.CmdCommit, ProductID: "p-1", OrderID: orderID, LineNo: 1, Quantity: 2, IssuedAt: t0}},
		{schemas.TypeInventoryCommand, schemas.InventoryCommand{Type: schemas.CmdAdjust, ProductID: "p-1", AdjustmentID: "adj-1", Delta: i64(-3), IssuedAt: t0}},
		{schemas.TypeInventoryCommand, schemas.InventoryCommand{Type: schemas.CmdAdjust, ProductID: "p-1", AdjustmentID: "adj-2", Absolute: i64(0), IssuedAt: t0}},
		{schemas.TypeInventoryResult, schemas.InventoryResult{Type: schemas.ResultReserved, OrderID: orderID, LineNo: 1, ProductID: "p-1", Quantity: 2, UnitPrice: &schemas.Money{Amount: 250, Currency: "USD"}, At: t0}},
		{schemas.TypeInventoryResult, schemas.InventoryResult{Type: schemas.ResultRejected, OrderID: orderID, LineNo: 2, ProductID: "p-2", Quantity: 1, Reason: schemas.ReasonUnknownProduct, At: t0}},
		{schemas.TypeStockSnapshot, schemas.StockSnapshot{ProductID: "p-1", OnHand: 10, Reserved: 2, Available: 8, Version: 3, UpdatedAt: t0}},
		{schemas.TypeProduct, schemas.Product{ProductID: "p-1", Name: "Beans", CategoryID: "coffee", Price: usd(250), Active: true, Version: 1, UpdatedAt: t0}},
	}
}

// TestGoRecordsValidate: every Go-encoded record validates strictly against
// the schema its ce_type names (so the Go types emit nothing undocumented),
// every event also against the orders.events.v1 union, and every ce_type
// of the contract is covered.
func TestGoRecordsValidate(t *testing.T) {
	_, strict := validators(t)
	seen := map[string]bool{}
	for _, r := range goRecords() {
		seen[r.ceType] = true
		b, err := json.Marshal(r.value)
		if err != nil {
			t.Fatal(err)
		}
		if err := strict.ValidateRecord(r.ceType, b); err != nil {
			t.Errorf("%s: %v\n%s", r.ceType, err, b)
		}
		if _, ok := schemas.StatusOfEvent(r.ceType); ok {
			if err := strict.Validate(schemas.SchemaOrderEvent, b); err != nil {
				t.Errorf("%s against the event union: %v", r.ceType, err)
			}
		}
	}
	for _, ty := range schemas.Types() {
		if !seen[ty] {
			t.Errorf("no Go record covers %s", ty)
		}
	}
}

// TestSchemasRejectBrokenRecords proves the schemas can fail: each record
// here breaks one rule of the contract.
func TestSchemasRejectBrokenRecords(t *testing.T) {
	open, strict := validators(t)
	cases := []struct {
		name, schema, value string
		strictOnly          bool
	}{
		{"float money", schemas.SchemaOrderConfirmed, `{"type":"io.orderpipe.order.confirmed.v1","orderId":"` + orderID + `","version":2,"customerId":"c","occurredAt":"2026-11-27T09:00:00Z","currency":"USD","pricedLines":[{"lineNo":1,"productId":"p","quantity":1,"unitPrice":{"amount":2.5,"currency":"USD"},"lineTotal":{"amount":2.5,"currency":"USD"}}],"total":{"amount":2.5,"currency":"USD"}}`, false},
		{"confirmed without total", schemas.SchemaOrderConfirmed, `{"type":"io.orderpipe.order.confirmed.v1","orderId":"` + orderID + `","version":2,"customerId":"c","occurredAt":"2026-11-27T09:00:00Z","currency":"USD","pricedLines":[]}`, false},
		{"event without version", schemas.SchemaOrderPlaced, `{"type":"io.orderpipe.order.placed.v1","orderId":"` + orderID + `","customerId":"c","occurredAt":"2026-11-27T09:00:00Z","shippingAddress":{"addressLine1":"a","city":"b","stateOrProvince":"c","postalCode":"d","country":"US"},"lines":[{"productId":"p","quantity":1}],"currency":"USD"}`, false},
		{"wrong type const", schemas.SchemaOrderPlaced, `{"type":"io.orderpipe.order.confirmed.v1","orderId":"` + orderID + `","version":1,"customerId":"c","occurredAt":"2026-11-27T09:00:00Z","shippingAddress":{"addressLine1":"a","city":"b","stateOrProvince":"c","postalCode":"d","country":"US"},"lines":[{"productId":"p","quantity":1}],"currency":"USD"}`, false},
		{"order id not a uuid", schemas.SchemaOrderCancelled, `{"type":"io.orderpipe.order.cancelled.v1","orderId":"order-1","version":2,"customerId":"c","occurredAt":"2026-11-27T09:00:00Z"}`, false},
		{"lowercase currency", schemas.SchemaProduct, `{"productId":"p","name":"n","categoryId":"c","price":{"amount":1,"currency":"usd"},"active":true,"version":1,"updatedAt":"2026-11-27T09:00:00Z"}`, false},
		{"confirmed state without prices", schemas.SchemaOrderState, `{"orderId":"` + orderID + `","version":2,"status":"CONFIRMED","customerId":"c","shippingAddress":{"addressLine1":"a","city":"b","stateOrProvince":"c","postalCode":"d","country":"US"},"lines":[{"productId":"p","quantity":1}],"currency":"USD","createdAt":"2026-11-27T09:00:00Z","updatedAt":"2026-11-27T09:00:00Z"}`, false},
		{"line number 0", schemas.SchemaInventoryCommand, `{"type":"reserve","productId":"p","orderId":"` + orderID + `","lineNo":0,"quantity":1,"currency":"USD","issuedAt":"2026-11-27T09:00:00Z"}`, false},
		{"adjust with delta and absolute", schemas.SchemaInventoryCommand, `{"type":"adjust","productId":"p","adjustmentId":"a","delta":1,"absolute":3,"issuedAt":"2026-11-27T09:00:00Z"}`, false},
		{"reserved without price", schemas.SchemaInventoryResult, `{"type":"reserved","orderId":"` + orderID + `","lineNo":1,"productId":"p","quantity":1,"at":"2026-11-27T09:00:00Z"}`, false},
		{"negative stock", schemas.SchemaStockSnapshot, `{"productId":"p","onHand":1,"reserved":2,"available":-1,"version":1,"updatedAt":"2026-11-27T09:00:00Z"}`, false},
		{"headers without ce_id", schemas.SchemaHeaders, `{"ce_type":"io.orderpipe.order.placed.v1","ce_source":"/x","ce_specversion":"1.0","ce_time":"2026-11-27T09:00:00Z","content-type":"application/json"}`, false},
		{"undeclared property", schemas.SchemaOrderCancelled, `{"type":"io.orderpipe.order.cancelled.v1","orderId":"` + orderID + `","version":2,"customerId":"c","occurredAt":"2026-11-27T09:00:00Z","refund":true}`, true},
	}
	for _, c := range cases {
		if err := strict.Validate(c.schema, []byte(c.value)); err == nil {
			t.Errorf("%s: strict validation accepted it", c.name)
		}
		err := open.Validate(c.schema, []byte(c.value))
		if c.strictOnly && err != nil {
			t.Errorf("%s: consumers' (open) validation must accept unknown properties: %v", c.name, err)
		}
		if !c.strictOnly && err == nil {
			t.Errorf("%s: validation accepted it", c.name)
		}
	}
}
