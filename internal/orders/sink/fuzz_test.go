package sink

import (
	"testing"

	"github.com/orderpipe/orderpipe/schemas"
)

// FuzzDecode: whatever arrives on orders.state.v1 or orders.events.v1, the
// sink's decoder never panics; what it cannot write is poison with a DLQ
// reason (decode or invalid), never a row.
func FuzzDecode(f *testing.F) {
	id := schemas.OrderID("c-1", "k-1")
	f.Add(true, []byte(id), []byte(`{"orderId":"`+id+`","version":1,"status":"PENDING","customerId":"c-1","shippingAddress":{},"lines":[{"productId":"p","quantity":1}],"currency":"USD","createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z"}`))
	f.Add(false, []byte(id), []byte(`{"type":"OrderPlaced","orderId":"`+id+`","version":1,"customerId":"c-1","occurredAt":"2026-01-01T00:00:00Z"}`))
	f.Add(true, []byte(id), []byte(`{"orderId":"`+id+`","version":-1}`))
	f.Add(false, []byte("x"), []byte(`[`))
	f.Add(true, []byte(id), []byte(nil))
	f.Fuzz(func(t *testing.T, state bool, key, value []byte) {
		b := Builder{StateTopic: "s", EventsTopic: "e"}
		topic := "e"
		if state {
			topic = "s"
		}
		for _, d := range b.Decode([]Record{{Topic: topic, Key: key, Value: value}}) {
			if d.Poison != "" && d.Reason != schemas.DLQReasonDecode && d.Reason != schemas.DLQReasonInvalid {
				t.Fatalf("poison %q with reason %q", d.Poison, d.Reason)
			}
			if d.Poison != "" && (d.Order != nil || d.History != nil) {
				t.Fatalf("poison %q still carries a row", d.Poison)
			}
		}
	})
}
