package processor

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// FuzzRecordDecoders: whatever key and value arrive on orders.requests.v1,
// inventory.results.v1 or orders.commands.v1, the order-processor's
// decoders never panic, and every refusal is a poison error (decode or
// invalid) — which the streams runtime sends to the topic's DLQ and moves
// past, never a handler error that would stop the task.
func FuzzRecordDecoders(f *testing.F) {
	id := schemas.OrderID("c-1", "k-1")
	f.Add(schemas.RequestKey("c-1", "k-1"), []byte(`{"orderId":"`+id+`","scope":"c-1","idempotencyKey":"k-1","bodyHash":"x","customerId":"c-1","shippingAddress":{"addressLine1":"a","city":"b","stateOrProvince":"c","postalCode":"d","country":"US"},"lines":[{"productId":"p","quantity":1}],"currency":"USD","receivedAt":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(id), []byte(`{"type":"reserved","orderId":"`+id+`","lineNo":1,"productId":"p","quantity":1,"unitPrice":{"amount":100,"currency":"USD"}}`))
	f.Add([]byte(id), []byte(`{"type":"cancel","orderId":"`+id+`","commandId":"c","requestedAt":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte{}, []byte(`{not json`))
	f.Add([]byte(id), []byte(`null`))
	f.Add([]byte(id), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		r := &kgo.Record{Key: key, Value: value}
		check := func(what string, err error) {
			if err == nil {
				return
			}
			if reason := streams.ReasonOf(err); reason != streams.ReasonDecode && reason != streams.ReasonInvalid {
				t.Fatalf("%s: %v has reason %q; want decode or invalid (a DLQ record)", what, err, reason)
			}
		}
		_, err := decodeRequest(r)
		check("request", err)
		_, _, err = decodeResult(r)
		check("result", err)
		_, err = decodeCommand(r)
		check("command", err)
	})
}
