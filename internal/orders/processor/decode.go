package processor

import (
	"github.com/orderpipe/orderpipe/pkg/jsonfast"
	"github.com/orderpipe/orderpipe/schemas"
)

// unmarshalResult decodes an inventory.results.v1 value. The fast path
// reads, with a jsonfast.Scanner, the flat object the inventory-processor
// writes (known keys, strings without escapes, integers); anything else —
// escapes, unknown keys, nulls — goes to encoding/json, so the result is
// always what encoding/json would decode (decode_test.go fuzzes the two
// against each other).
func unmarshalResult(data []byte) (schemas.InventoryResult, error) {
	return jsonfast.Decode(data, fastResult)
}

// resultKeys numbers the keys the fast path reads (0: not one of them).
var resultKeys = map[string]uint{"type": 1, "orderId": 2, "lineNo": 3, "productId": 4, "quantity": 5, "unitPrice": 6, "reason": 7, "at": 8}

func fastResult(data []byte) (schemas.InventoryResult, bool) {
	var v schemas.InventoryResult
	s := jsonfast.NewScanner(data)
	var seen uint16
	ok := s.Object(func(k []byte) bool {
		key := string(k)
		bit := uint16(1) << resultKeys[key]
		if resultKeys[key] == 0 || seen&bit != 0 {
			return false // unknown or repeated: encoding/json's rules, not ours
		}
		seen |= bit
		switch key {
		case "type", "orderId", "productId", "reason":
			str, ok := s.PlainString()
			if !ok {
				return false
			}
			switch key {
			case "type":
				v.Type = string(str)
			case "orderId":
				v.OrderID = string(str)
			case "productId":
				v.ProductID = string(str)
			default:
				v.Reason = string(str)
			}
		case "lineNo", "quantity":
			n, ok := s.Int()
			if !ok || n != int64(int(n)) {
				return false
			}
			if key == "lineNo" {
				v.LineNo = int(n)
			} else {
				v.Quantity = int(n)
			}
		case "unitPrice":
			var m schemas.Money
			var amount, currency bool
			if !s.Object(func(k []byte) bool {
				switch string(k) {
				case "amount":
					n, ok := s.Int()
					m.Amount, amount = n, ok && !amount
					return amount
				case "currency":
					c, ok := s.PlainString()
					m.Currency, currency = string(c), ok && !currency
					return currency
				}
				return false
			}) {
				return false
			}
			v.UnitPrice = &m
		case "at":
			t, ok := s.Time()
			if !ok {
				return false
			}
			v.At = t
		default:
			return false
		}
		return true
	})
	if !ok {
		return v, false
	}
	return v, s.End()
}

// unmarshalRequest decodes an orders.requests.v1 value: a fast path for
// the object the ingress writes, else encoding/json (same result).
func unmarshalRequest(data []byte) (schemas.OrderRequest, error) {
	return jsonfast.Decode(data, fastRequest)
}

// strField reads a string into *dst unless the key was seen already.
func strField(s *jsonfast.Scanner, dst *string, seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	v, ok := s.PlainString()
	*dst = string(v)
	return ok
}

func fastRequest(data []byte) (schemas.OrderRequest, bool) {
	var v schemas.OrderRequest
	var seen uint32
	s := jsonfast.NewScanner(data)
	ok := s.Object(func(k []byte) bool {
		switch string(k) {
		case "orderId":
			return strField(&s, &v.OrderID, &seen, 1<<0)
		case "scope":
			return strField(&s, &v.Scope, &seen, 1<<1)
		case "idempotencyKey":
			return strField(&s, &v.IdempotencyKey, &seen, 1<<2)
		case "bodyHash":
			return strField(&s, &v.BodyHash, &seen, 1<<3)
		case "customerId":
			return strField(&s, &v.CustomerID, &seen, 1<<4)
		case "currency":
			return strField(&s, &v.Currency, &seen, 1<<5)
		case "receivedAt":
			if seen&(1<<6) != 0 {
				return false
			}
			seen |= 1 << 6
			t, ok := s.Time()
			v.ReceivedAt = t
			return ok
		case "shippingAddress":
			if seen&(1<<7) != 0 {
				return false
			}
			seen |= 1 << 7
			var as uint32
			a := &v.ShippingAddress
			return s.Object(func(k []byte) bool {
				switch string(k) {
				case "addressLine1":
					return strField(&s, &a.AddressLine1, &as, 1<<0)
				case "addressLine2":
					return strField(&s, &a.AddressLine2, &as, 1<<1)
				case "city":
					return strField(&s, &a.City, &as, 1<<2)
				case "stateOrProvince":
					return strField(&s, &a.StateOrProvince, &as, 1<<3)
				case "postalCode":
					return strField(&s, &a.PostalCode, &as, 1<<4)
				case "country":
					return strField(&s, &a.Country, &as, 1<<5)
				}
				return false
			})
		case "lines":
			if seen&(1<<8) != 0 {
				return false
			}
			seen |= 1 << 8
			v.Lines = make([]schemas.Line, 0, 4)
			return s.Array(func() bool {
				var l schemas.Line
				var ls uint32
				ok := s.Object(func(k []byte) bool {
					switch string(k) {
					case "productId":
						return strField(&s, &l.ProductID, &ls, 1<<0)
					case "quantity":
						if ls&(1<<1) != 0 {
							return false
						}
						ls |= 1 << 1
						n, ok := s.Int()
						l.Quantity = int(n)
						return ok && n == int64(int(n))
					}
					return false
				})
				v.Lines = append(v.Lines, l)
				return ok
			})
		}
		return false
	})
	if !ok {
		return v, false
	}
	return v, s.End()
}
