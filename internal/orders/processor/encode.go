package processor

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/orderpipe/orderpipe/internal/orders/saga"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// Hand-written JSON encoders for the records the saga writes on every order
// (events, inventory commands, state): the same JSON encoding/json writes
// for the schemas types (field order, omitempty), without reflection.
// encode_test.go checks them against encoding/json, also under fuzzing.

func appendEvent(b []byte, ev schemas.OrderEvent) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, ev.Type)
	b = append(b, `,"orderId":`...)
	b = appendString(b, ev.OrderID)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, ev.Version, 10)
	if ev.CustomerID != "" {
		b = append(b, `,"customerId":`...)
		b = appendString(b, ev.CustomerID)
	}
	b = append(b, `,"occurredAt":`...)
	b = appendTime(b, ev.OccurredAt)
	if ev.IdempotencyKey != "" {
		b = append(b, `,"idempotencyKey":`...)
		b = appendString(b, ev.IdempotencyKey)
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
		b = append(b, `,"currency":`...)
		b = appendString(b, ev.Currency)
	}
	if len(ev.PricedLines) > 0 {
		b = append(b, `,"pricedLines":`...)
		b = appendPricedLines(b, ev.PricedLines)
	}
	if ev.Total != nil {
		b = append(b, `,"total":`...)
		b = appendMoney(b, *ev.Total)
	}
	if ev.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, ev.Reason)
	}
	if len(ev.RejectedLines) > 0 {
		b = append(b, `,"rejectedLines":`...)
		b = appendRejectedLines(b, ev.RejectedLines)
	}
	return append(b, '}')
}

func appendCommand(b []byte, c schemas.InventoryCommand) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, c.Type)
	b = append(b, `,"productId":`...)
	b = appendString(b, c.ProductID)
	if c.OrderID != "" {
		b = append(b, `,"orderId":`...)
		b = appendString(b, c.OrderID)
	}
	if c.LineNo != 0 {
		b = append(b, `,"lineNo":`...)
		b = strconv.AppendInt(b, int64(c.LineNo), 10)
	}
	if c.Quantity != 0 {
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, int64(c.Quantity), 10)
	}
	if c.Currency != "" {
		b = append(b, `,"currency":`...)
		b = appendString(b, c.Currency)
	}
	if c.AdjustmentID != "" {
		b = append(b, `,"adjustmentId":`...)
		b = appendString(b, c.AdjustmentID)
	}
	if c.Delta != nil {
		b = append(b, `,"delta":`...)
		b = strconv.AppendInt(b, *c.Delta, 10)
	}
	if c.Absolute != nil {
		b = append(b, `,"absolute":`...)
		b = strconv.AppendInt(b, *c.Absolute, 10)
	}
	if c.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, c.Reason)
	}
	b = append(b, `,"issuedAt":`...)
	b = appendTime(b, c.IssuedAt)
	return append(b, '}')
}

func appendState(b []byte, s schemas.OrderState) []byte {
	b = append(b, `{"orderId":`...)
	b = appendString(b, s.OrderID)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, s.Version, 10)
	b = append(b, `,"status":`...)
	b = appendString(b, s.Status)
	b = append(b, `,"customerId":`...)
	b = appendString(b, s.CustomerID)
	b = append(b, `,"shippingAddress":`...)
	b = appendAddress(b, s.ShippingAddress)
	b = append(b, `,"lines":`...)
	b = appendLines(b, s.Lines)
	b = append(b, `,"currency":`...)
	b = appendString(b, s.Currency)
	if len(s.PricedLines) > 0 {
		b = append(b, `,"pricedLines":`...)
		b = appendPricedLines(b, s.PricedLines)
	}
	if s.Total != nil {
		b = append(b, `,"total":`...)
		b = appendMoney(b, *s.Total)
	}
	if s.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, s.Reason)
	}
	if len(s.RejectedLines) > 0 {
		b = append(b, `,"rejectedLines":`...)
		b = appendRejectedLines(b, s.RejectedLines)
	}
	b = append(b, `,"createdAt":`...)
	b = appendTime(b, s.CreatedAt)
	b = append(b, `,"updatedAt":`...)
	b = appendTime(b, s.UpdatedAt)
	return append(b, '}')
}

func appendAddress(b []byte, a schemas.Address) []byte {
	b = append(b, `{"addressLine1":`...)
	b = appendString(b, a.AddressLine1)
	if a.AddressLine2 != "" {
		b = append(b, `,"addressLine2":`...)
		b = appendString(b, a.AddressLine2)
	}
	b = append(b, `,"city":`...)
	b = appendString(b, a.City)
	b = append(b, `,"stateOrProvince":`...)
	b = appendString(b, a.StateOrProvince)
	b = append(b, `,"postalCode":`...)
	b = appendString(b, a.PostalCode)
	b = append(b, `,"country":`...)
	b = appendString(b, a.Country)
	return append(b, '}')
}

func appendLines(b []byte, ls []schemas.Line) []byte {
	if ls == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, l := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"productId":`...)
		b = appendString(b, l.ProductID)
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, int64(l.Quantity), 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendPricedLines(b []byte, ls []schemas.PricedLine) []byte {
	b = append(b, '[')
	for i, l := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"lineNo":`...)
		b = strconv.AppendInt(b, int64(l.LineNo), 10)
		b = append(b, `,"productId":`...)
		b = appendString(b, l.ProductID)
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, int64(l.Quantity), 10)
		b = append(b, `,"unitPrice":`...)
		b = appendMoney(b, l.UnitPrice)
		b = append(b, `,"lineTotal":`...)
		b = appendMoney(b, l.LineTotal)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendRejectedLines(b []byte, ls []schemas.RejectedLine) []byte {
	b = append(b, '[')
	for i, l := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"lineNo":`...)
		b = strconv.AppendInt(b, int64(l.LineNo), 10)
		b = append(b, `,"productId":`...)
		b = appendString(b, l.ProductID)
		b = append(b, `,"reason":`...)
		b = appendString(b, l.Reason)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendMoney(b []byte, m schemas.Money) []byte {
	b = append(b, `{"amount":`...)
	b = strconv.AppendInt(b, m.Amount, 10)
	b = append(b, `,"currency":`...)
	b = appendString(b, m.Currency)
	return append(b, '}')
}

// appendTime writes t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds as needed).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does: <, >
// and & escaped as \u003c…, invalid UTF-8 as \ufffd, U+2028 and U+2029
// escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendSaga writes a pending saga (the sagas store's changelog value) as
// encoding/json would.
func appendSaga(b []byte, s saga.Saga) []byte {
	b = append(b, `{"orderId":`...)
	b = appendString(b, s.OrderID)
	b = append(b, `,"customerId":`...)
	b = appendString(b, s.CustomerID)
	b = append(b, `,"idempotencyKey":`...)
	b = appendString(b, s.IdempotencyKey)
	b = append(b, `,"shippingAddress":`...)
	b = appendAddress(b, s.Address)
	b = append(b, `,"lines":`...)
	b = appendLines(b, s.Lines)
	b = append(b, `,"currency":`...)
	b = appendString(b, s.Currency)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, s.Version, 10)
	b = append(b, `,"status":`...)
	b = appendString(b, s.Status)
	b = append(b, `,"placedAt":`...)
	b = appendTime(b, s.PlacedAt)
	b = append(b, `,"deadline":`...)
	b = appendTime(b, s.Deadline)
	b = append(b, `,"answers":`...)
	if s.Answers == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, a := range s.Answers {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			n := len(b)
			if a.State != "" {
				b = append(b, `"s":`...)
				b = appendString(b, a.State)
			}
			if a.UnitPrice != 0 {
				if len(b) > n {
					b = append(b, ',')
				}
				b = append(b, `"p":`...)
				b = strconv.AppendInt(b, a.UnitPrice, 10)
			}
			if a.Reason != "" {
				if len(b) > n {
					b = append(b, ',')
				}
				b = append(b, `"r":`...)
				b = appendString(b, a.Reason)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
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
