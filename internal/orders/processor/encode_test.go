package processor

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/orders/saga"
	"github.com/orderpipe/orderpipe/schemas"
)

func sampleValues(s string, n int64, at time.Time) (schemas.OrderEvent, schemas.InventoryCommand, schemas.OrderState) {
	addr := schemas.Address{AddressLine1: s, AddressLine2: s, City: s, StateOrProvince: s, PostalCode: s, Country: s}
	money := schemas.Money{Amount: n, Currency: s}
	lines := []schemas.Line{{ProductID: s, Quantity: int(n)}, {ProductID: "b", Quantity: 2}}
	priced := []schemas.PricedLine{{LineNo: 1, ProductID: s, Quantity: 3, UnitPrice: money, LineTotal: money}}
	rejected := []schemas.RejectedLine{{LineNo: int(n), ProductID: s, Reason: s}}
	ev := schemas.OrderEvent{Type: s, OrderID: s, Version: n, CustomerID: s, OccurredAt: at, IdempotencyKey: s, ShippingAddress: &addr,
		Lines: lines, Currency: s, PricedLines: priced, Total: &money, Reason: s, RejectedLines: rejected}
	cmd := schemas.InventoryCommand{Type: s, ProductID: s, OrderID: s, LineNo: int(n), Quantity: int(n), Currency: s,
		AdjustmentID: s, Delta: &n, Absolute: &n, Reason: s, IssuedAt: at}
	st := schemas.OrderState{OrderID: s, Version: n, Status: s, CustomerID: s, ShippingAddress: addr, Lines: lines, Currency: s,
		PricedLines: priced, Total: &money, Reason: s, RejectedLines: rejected, CreatedAt: at, UpdatedAt: at}
	return ev, cmd, st
}

func sampleSaga(s string, n int64, at time.Time) saga.Saga {
	_, _, st := sampleValues(s, n, at)
	return saga.Saga{OrderID: s, CustomerID: s, IdempotencyKey: s, Address: st.ShippingAddress, Lines: st.Lines, Currency: s,
		Version: n, Status: s, PlacedAt: at, Deadline: at, Answers: []saga.Answer{{}, {State: s}, {UnitPrice: n}, {Reason: s}, {State: s, UnitPrice: n, Reason: s}}}
}

func checkSame(t *testing.T, what string, got []byte, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Skip(err) // a value encoding/json refuses (a year beyond 9999)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
}

// TestEncodersMatchEncodingJSON: every value, full and empty, encodes to
// the very bytes encoding/json writes.
func TestEncodersMatchEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
	for _, s := range []string{"", "plain", `quo"te\back`, "<tag>&amp;", "ctl\x00\x01\x1f\n\r\t\b\f", "üñí©ødé ✓", "bad\xff\xfeutf8", "line\u2028sep\u2029"} {
		ev, cmd, st := sampleValues(s, 42, at)
		checkSame(t, "event", appendEvent(nil, ev), ev)
		checkSame(t, "command", appendCommand(nil, cmd), cmd)
		checkSame(t, "state", appendState(nil, st), st)
		sg := sampleSaga(s, 42, at)
		checkSame(t, "saga", appendSaga(nil, sg), sg)
	}
	checkSame(t, "empty saga", appendSaga(nil, saga.Saga{}), saga.Saga{})
	var ev schemas.OrderEvent
	var cmd schemas.InventoryCommand
	var st schemas.OrderState
	checkSame(t, "empty event", appendEvent(nil, ev), ev)
	checkSame(t, "empty command", appendCommand(nil, cmd), cmd)
	checkSame(t, "empty state", appendState(nil, st), st)
	local := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	ev.OccurredAt = local
	checkSame(t, "zoned time", appendEvent(nil, ev), ev)
}

func FuzzEncoders(f *testing.F) {
	f.Add("beans", int64(3), int64(1e9))
	f.Add("\xff<>&\u2028\"", int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, s string, n, nanos int64) {
		at := time.Unix(0, nanos).UTC()
		ev, cmd, st := sampleValues(s, n, at)
		checkSame(t, "event", appendEvent(nil, ev), ev)
		checkSame(t, "command", appendCommand(nil, cmd), cmd)
		checkSame(t, "state", appendState(nil, st), st)
		sg := sampleSaga(s, n, at)
		checkSame(t, "saga", appendSaga(nil, sg), sg)
	})
}

// TestEncodersKnowEveryField fails when a schemas type gains a field: add
// it to encode.go and to sampleValues.
func TestEncodersKnowEveryField(t *testing.T) {
	for _, c := range []struct {
		v    any
		want int
	}{
		{schemas.OrderEvent{}, 13}, {schemas.InventoryCommand{}, 11}, {schemas.OrderState{}, 13},
		{schemas.Address{}, 6}, {schemas.Line{}, 2}, {schemas.PricedLine{}, 5}, {schemas.RejectedLine{}, 3}, {schemas.Money{}, 2},
		{saga.Saga{}, 11}, {saga.Answer{}, 3},
	} {
		if n := reflect.TypeOf(c.v).NumField(); n != c.want {
			t.Errorf("%T has %d fields, encode.go writes %d: update it (and sampleValues)", c.v, n, c.want)
		}
	}
}

// BenchmarkEncode: the record encoders on a confirmed order's records.
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
