package processor

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

// unmarshalResult decodes an inventory.results.v1 value. The fast path
// reads the flat object the inventory-processor writes (known keys, strings
// without escapes, integers); anything else — escapes, unknown keys, nulls,
// odd spacing — goes to encoding/json, so the result is always what
// encoding/json would decode (decode_test.go fuzzes the two against each
// other).
func unmarshalResult(data []byte) (schemas.InventoryResult, error) {
	if v, ok := fastResult(data); ok {
		return v, nil
	}
	var v schemas.InventoryResult
	err := json.Unmarshal(data, &v)
	return v, err
}

// scanner reads the restricted JSON of the fast path.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\n' || s.b[s.i] == '\t' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) consume(c byte) bool {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters, as valid UTF-8.
func (s *scanner) str() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, isPlainUTF8(v)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// isPlainUTF8 reports whether v is ASCII (anything else goes the slow way,
// which replaces invalid UTF-8).
func isPlainUTF8(v []byte) bool {
	for _, c := range v {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// int reads an integer in JSON syntax that fits an int64.
func (s *scanner) int() (int64, bool) {
	s.skipSpace()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == digits || (s.b[digits] == '0' && s.i-digits > 1) {
		return 0, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	return n, err == nil
}

// object calls field for each key until '}'.
func (s *scanner) object(field func(key []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		k, ok := s.str()
		if !ok || !s.consume(':') || !field(k) {
			return false
		}
		if s.consume('}') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// resultKeys numbers the keys the fast path reads (0: not one of them).
var resultKeys = map[string]uint{"type": 1, "orderId": 2, "lineNo": 3, "productId": 4, "quantity": 5, "unitPrice": 6, "reason": 7, "at": 8}

func fastResult(data []byte) (schemas.InventoryResult, bool) {
	var v schemas.InventoryResult
	s := &scanner{b: data}
	var seen uint16
	ok := s.object(func(k []byte) bool {
		key := string(k)
		bit := uint16(1) << resultKeys[key]
		if resultKeys[key] == 0 || seen&bit != 0 {
			return false // unknown or repeated: encoding/json's rules, not ours
		}
		seen |= bit
		switch key {
		case "type", "orderId", "productId", "reason":
			str, ok := s.str()
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
			n, ok := s.int()
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
			if !s.object(func(k []byte) bool {
				switch string(k) {
				case "amount":
					n, ok := s.int()
					m.Amount, amount = n, ok && !amount
					return amount
				case "currency":
					c, ok := s.str()
					m.Currency, currency = string(c), ok && !currency
					return currency
				}
				return false
			}) {
				return false
			}
			v.UnitPrice = &m
		case "at":
			str, ok := s.str()
			if !ok {
				return false
			}
			t, err := time.Parse(time.RFC3339, string(str))
			if err != nil || !bytes.Equal(str, t.AppendFormat(nil, time.RFC3339Nano)) {
				return false // only the canonical form; the rest as encoding/json parses it
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
	s.skipSpace()
	return v, s.i == len(s.b)
}

// unmarshalRequest decodes an orders.requests.v1 value: a fast path for
// the object the ingress writes, else encoding/json (same result).
func unmarshalRequest(data []byte) (schemas.OrderRequest, error) {
	if v, ok := fastRequest(data); ok {
		return v, nil
	}
	var v schemas.OrderRequest
	err := json.Unmarshal(data, &v)
	return v, err
}

// array calls elem for each element until ']'.
func (s *scanner) array(elem func() bool) bool {
	if !s.consume('[') {
		return false
	}
	if s.consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.consume(']') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// strField reads a string into *dst unless the key was seen already.
func (s *scanner) strField(dst *string, seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	v, ok := s.str()
	*dst = string(v)
	return ok
}

// canonicalTime reads a time written in time.Time's own JSON form.
func (s *scanner) canonicalTime() (time.Time, bool) {
	str, ok := s.str()
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, string(str))
	if err != nil || !bytes.Equal(str, t.AppendFormat(nil, time.RFC3339Nano)) {
		return time.Time{}, false
	}
	return t, true
}

func fastRequest(data []byte) (schemas.OrderRequest, bool) {
	var v schemas.OrderRequest
	var seen uint32
	s := &scanner{b: data}
	ok := s.object(func(k []byte) bool {
		switch string(k) {
		case "orderId":
			return s.strField(&v.OrderID, &seen, 1<<0)
		case "scope":
			return s.strField(&v.Scope, &seen, 1<<1)
		case "idempotencyKey":
			return s.strField(&v.IdempotencyKey, &seen, 1<<2)
		case "bodyHash":
			return s.strField(&v.BodyHash, &seen, 1<<3)
		case "customerId":
			return s.strField(&v.CustomerID, &seen, 1<<4)
		case "currency":
			return s.strField(&v.Currency, &seen, 1<<5)
		case "receivedAt":
			if seen&(1<<6) != 0 {
				return false
			}
			seen |= 1 << 6
			t, ok := s.canonicalTime()
			v.ReceivedAt = t
			return ok
		case "shippingAddress":
			if seen&(1<<7) != 0 {
				return false
			}
			seen |= 1 << 7
			var as uint32
			a := &v.ShippingAddress
			return s.object(func(k []byte) bool {
				switch string(k) {
				case "addressLine1":
					return s.strField(&a.AddressLine1, &as, 1<<0)
				case "addressLine2":
					return s.strField(&a.AddressLine2, &as, 1<<1)
				case "city":
					return s.strField(&a.City, &as, 1<<2)
				case "stateOrProvince":
					return s.strField(&a.StateOrProvince, &as, 1<<3)
				case "postalCode":
					return s.strField(&a.PostalCode, &as, 1<<4)
				case "country":
					return s.strField(&a.Country, &as, 1<<5)
				}
				return false
			})
		case "lines":
			if seen&(1<<8) != 0 {
				return false
			}
			seen |= 1 << 8
			v.Lines = make([]schemas.Line, 0, 4)
			return s.array(func() bool {
				var l schemas.Line
				var ls uint32
				ok := s.object(func(k []byte) bool {
					switch string(k) {
					case "productId":
						return s.strField(&l.ProductID, &ls, 1<<0)
					case "quantity":
						if ls&(1<<1) != 0 {
							return false
						}
						ls |= 1 << 1
						n, ok := s.int()
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
	s.skipSpace()
	return v, s.i == len(s.b)
}
