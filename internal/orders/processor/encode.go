package processor

import (
	"github.com/orderpipe/orderpipe/internal/orders/saga"
	"github.com/orderpipe/orderpipe/pkg/jsonfast"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// Hand-written JSON encoders for the records the saga writes on every order
// (events, inventory commands, state): the same JSON encoding/json writes
// for the schemas types (field order, omitempty), without reflection.
// encode_test.go checks them against encoding/json, also under fuzzing.

func appendEvent(b []byte, ev schemas.OrderEvent) []byte {
	b = jsonfast.AppendStringField(b, `{"type":`, ev.Type)
	b = jsonfast.AppendStringField(b, `,"orderId":`, ev.OrderID)
	b = jsonfast.AppendIntField(b, `,"version":`, ev.Version)
	if ev.CustomerID != "" {
		b = jsonfast.AppendStringField(b, `,"customerId":`, ev.CustomerID)
	}
	b = jsonfast.AppendTimeField(b, `,"occurredAt":`, ev.OccurredAt)
	if ev.IdempotencyKey != "" {
		b = jsonfast.AppendStringField(b, `,"idempotencyKey":`, ev.IdempotencyKey)
	}
	if ev.ShippingAddress != nil {
		b = append(b, `,"shippingAddress":`...)
		b = appendAddress(b, *ev.ShippingAddress)
	}
	if len(ev.Lines) > 0 {
		b = append(b, `,"lines":`...)
		b = appendLines(b, ev.Lines)
	}
	if ev.Currency != "" {
		b = jsonfast.AppendStringField(b, `,"currency":`, ev.Currency)
	}
	if len(ev.PricedLines) > 0 {
		b = append(b, `,"pricedLines":`...)
		b = jsonfast.AppendArray(b, ev.PricedLines, appendPricedLine)
	}
	if ev.Total != nil {
		b = jsonfast.AppendMoneyField(b, `,"total":`, *ev.Total)
	}
	if ev.Reason != "" {
		b = jsonfast.AppendStringField(b, `,"reason":`, ev.Reason)
	}
	if len(ev.RejectedLines) > 0 {
		b = append(b, `,"rejectedLines":`...)
		b = jsonfast.AppendArray(b, ev.RejectedLines, appendRejectedLine)
	}
	return append(b, '}')
}

func appendCommand(b []byte, c schemas.InventoryCommand) []byte {
	b = jsonfast.AppendStringField(b, `{"type":`, c.Type)
	b = jsonfast.AppendStringField(b, `,"productId":`, c.ProductID)
	if c.OrderID != "" {
		b = jsonfast.AppendStringField(b, `,"orderId":`, c.OrderID)
	}
	if c.LineNo != 0 {
		b = jsonfast.AppendIntField(b, `,"lineNo":`, int64(c.LineNo))
	}
	if c.Quantity != 0 {
		b = jsonfast.AppendIntField(b, `,"quantity":`, int64(c.Quantity))
	}
	if c.Currency != "" {
		b = jsonfast.AppendStringField(b, `,"currency":`, c.Currency)
	}
	if c.AdjustmentID != "" {
		b = jsonfast.AppendStringField(b, `,"adjustmentId":`, c.AdjustmentID)
	}
	if c.Delta != nil {
		b = jsonfast.AppendIntField(b, `,"delta":`, *c.Delta)
	}
	if c.Absolute != nil {
		b = jsonfast.AppendIntField(b, `,"absolute":`, *c.Absolute)
	}
	if c.Reason != "" {
		b = jsonfast.AppendStringField(b, `,"reason":`, c.Reason)
	}
	b = jsonfast.AppendTimeField(b, `,"issuedAt":`, c.IssuedAt)
	return append(b, '}')
}

func appendState(b []byte, s schemas.OrderState) []byte {
	b = jsonfast.AppendStringField(b, `{"orderId":`, s.OrderID)
	b = jsonfast.AppendIntField(b, `,"version":`, s.Version)
	b = jsonfast.AppendStringField(b, `,"status":`, s.Status)
	b = jsonfast.AppendStringField(b, `,"customerId":`, s.CustomerID)
	b = append(b, `,"shippingAddress":`...)
	b = appendAddress(b, s.ShippingAddress)
	b = append(b, `,"lines":`...)
	b = appendLines(b, s.Lines)
	b = jsonfast.AppendStringField(b, `,"currency":`, s.Currency)
	if len(s.PricedLines) > 0 {
		b = append(b, `,"pricedLines":`...)
		b = jsonfast.AppendArray(b, s.PricedLines, appendPricedLine)
	}
	if s.Total != nil {
		b = jsonfast.AppendMoneyField(b, `,"total":`, *s.Total)
	}
	if s.Reason != "" {
		b = jsonfast.AppendStringField(b, `,"reason":`, s.Reason)
	}
	if len(s.RejectedLines) > 0 {
		b = append(b, `,"rejectedLines":`...)
		b = jsonfast.AppendArray(b, s.RejectedLines, appendRejectedLine)
	}
	b = jsonfast.AppendTimeField(b, `,"createdAt":`, s.CreatedAt)
	b = jsonfast.AppendTimeField(b, `,"updatedAt":`, s.UpdatedAt)
	return append(b, '}')
}

func appendAddress(b []byte, a schemas.Address) []byte {
	b = jsonfast.AppendStringField(b, `{"addressLine1":`, a.AddressLine1)
	if a.AddressLine2 != "" {
		b = jsonfast.AppendStringField(b, `,"addressLine2":`, a.AddressLine2)
	}
	b = jsonfast.AppendStringField(b, `,"city":`, a.City)
	b = jsonfast.AppendStringField(b, `,"stateOrProvince":`, a.StateOrProvince)
	b = jsonfast.AppendStringField(b, `,"postalCode":`, a.PostalCode)
	b = jsonfast.AppendStringField(b, `,"country":`, a.Country)
	return append(b, '}')
}

func appendLines(b []byte, ls []schemas.Line) []byte {
	if ls == nil {
		return append(b, "null"...)
	}
	return jsonfast.AppendArray(b, ls, appendLine)
}

func appendLine(b []byte, l schemas.Line) []byte {
	b = jsonfast.AppendStringField(b, `{"productId":`, l.ProductID)
	b = jsonfast.AppendIntField(b, `,"quantity":`, int64(l.Quantity))
	return append(b, '}')
}

func appendPricedLine(b []byte, l schemas.PricedLine) []byte {
	b = jsonfast.AppendIntField(b, `{"lineNo":`, int64(l.LineNo))
	b = jsonfast.AppendStringField(b, `,"productId":`, l.ProductID)
	b = jsonfast.AppendIntField(b, `,"quantity":`, int64(l.Quantity))
	b = jsonfast.AppendMoneyField(b, `,"unitPrice":`, l.UnitPrice)
	b = jsonfast.AppendMoneyField(b, `,"lineTotal":`, l.LineTotal)
	return append(b, '}')
}

func appendRejectedLine(b []byte, l schemas.RejectedLine) []byte {
	b = jsonfast.AppendIntField(b, `{"lineNo":`, int64(l.LineNo))
	b = jsonfast.AppendStringField(b, `,"productId":`, l.ProductID)
	b = jsonfast.AppendStringField(b, `,"reason":`, l.Reason)
	return append(b, '}')
}

// appendSaga writes a pending saga (the sagas store's changelog value) as
// encoding/json would.
func appendSaga(b []byte, s saga.Saga) []byte {
	b = jsonfast.AppendStringField(b, `{"orderId":`, s.OrderID)
	b = jsonfast.AppendStringField(b, `,"customerId":`, s.CustomerID)
	b = jsonfast.AppendStringField(b, `,"idempotencyKey":`, s.IdempotencyKey)
	b = append(b, `,"shippingAddress":`...)
	b = appendAddress(b, s.Address)
	b = append(b, `,"lines":`...)
	b = appendLines(b, s.Lines)
	b = jsonfast.AppendStringField(b, `,"currency":`, s.Currency)
	b = jsonfast.AppendIntField(b, `,"version":`, s.Version)
	b = jsonfast.AppendStringField(b, `,"status":`, s.Status)
	b = jsonfast.AppendTimeField(b, `,"placedAt":`, s.PlacedAt)
	b = jsonfast.AppendTimeField(b, `,"deadline":`, s.Deadline)
	b = append(b, `,"answers":`...)
	if s.Answers == nil {
		b = append(b, "null"...)
	} else {
		b = jsonfast.AppendArray(b, s.Answers, appendAnswer)
	}
	return append(b, '}')
}

// appendAnswer writes a line's answer with its members omitted when empty.
func appendAnswer(b []byte, a saga.Answer) []byte {
	b = append(b, '{')
	n := len(b)
	if a.State != "" {
		b = jsonfast.AppendStringField(b, `"s":`, a.State)
	}
	if a.UnitPrice != 0 {
		if len(b) > n {
			b = append(b, ',')
		}
		b = jsonfast.AppendIntField(b, `"p":`, a.UnitPrice)
	}
	if a.Reason != "" {
		if len(b) > n {
			b = append(b, ',')
		}
		b = jsonfast.AppendStringField(b, `"r":`, a.Reason)
	}
	return append(b, '}')
}

// sagaCodec is the sagas store's codec: appendSaga out, encoding/json in
// (a restore reads each value once).
func sagaCodec() streams.Codec[saga.Saga] {
	c := streams.JSON[saga.Saga](1)
	c.Encode = func(dst []byte, s saga.Saga) ([]byte, error) { return appendSaga(dst, s), nil }
	return c
}
