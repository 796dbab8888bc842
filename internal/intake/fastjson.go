package intake

import (
	"unicode/utf8"

	"github.com/orderpipe/orderpipe/schemas"
)

// fastDecode decodes the common shape of an order body without reflection.
// It handles a strict subset — the document encoding/json would decode to
// the same Order — and reports false for anything else (escapes in known
// string fields, non-integer quantities, keys that differ from ours only in
// case, duplicated keys, objects of more than 16 members, anything
// malformed), in which case Parse
// uses encoding/json. FuzzFastDecode checks the two agree.
func fastDecode(b []byte) (Order, bool) {
	s := scanner{b: b}
	var o Order
	var seen [4]bool
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "customerId":
			return once(&seen[0]) && s.stringOrNull(&o.CustomerID)
		case "currency":
			return once(&seen[1]) && s.stringOrNull(&o.Currency)
		case "shippingAddress":
			return once(&seen[2]) && s.address(&o.ShippingAddress)
		case "lines":
			return once(&seen[3]) && s.lines(&o.Lines)
		}
		return s.unknown(key, "customerId", "currency", "shippingAddress", "lines")
	})
	s.ws()
	return o, ok && s.i == len(s.b)
}

func once(seen *bool) bool {
	if *seen {
		return false
	}
	*seen = true
	return true
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	s.ws()
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// object reads {"key": value, ...}, calling member for each key with the
// scanner at the value; member must consume the value.
func (s *scanner) object(member func(key []byte) bool) bool {
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	// Member names seen, to leave duplicates (and objects too large to
	// check cheaply) to Parse's slow path, which refuses duplicates.
	var names [16][]byte
	n := 0
	for {
		key, ok := s.plainString()
		if !ok || n == len(names) {
			return false
		}
		for _, k := range names[:n] {
			if len(k) == len(key) && equalFoldBytes(k, key) {
				return false
			}
		}
		names[n] = key
		n++
		if !s.eat(':') || !member(key) {
			return false
		}
		if s.eat('}') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

// plainString reads a string without escapes or control characters that is
// valid UTF-8.
func (s *scanner) plainString() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			str := s.b[start:s.i]
			s.i++
			return str, utf8.Valid(str)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

func (s *scanner) stringOrNull(dst *string) bool {
	if s.literal("null") {
		return true
	}
	str, ok := s.plainString()
	*dst = string(str)
	return ok
}

// unknown skips the value of a key we do not read, unless the key would
// match one of ours case-insensitively (as encoding/json matches) or is
// not ASCII.
func (s *scanner) unknown(key []byte, known ...string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	for _, k := range known {
		if len(k) == len(key) && equalFoldASCII(k, key) {
			return false
		}
	}
	return s.skip(0)
}

func equalFoldBytes(a, b []byte) bool {
	for i := range a {
		if a[i]|0x20 != b[i]|0x20 {
			return false
		}
	}
	return true
}

func equalFoldASCII(a string, b []byte) bool {
	for i := range len(a) {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

func (s *scanner) address(a *schemas.Address) bool {
	if s.literal("null") {
		return true
	}
	var seen [6]bool
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "addressLine1":
			return once(&seen[0]) && s.stringOrNull(&a.AddressLine1)
		case "addressLine2":
			return once(&seen[1]) && s.stringOrNull(&a.AddressLine2)
		case "city":
			return once(&seen[2]) && s.stringOrNull(&a.City)
		case "stateOrProvince":
			return once(&seen[3]) && s.stringOrNull(&a.StateOrProvince)
		case "postalCode":
			return once(&seen[4]) && s.stringOrNull(&a.PostalCode)
		case "country":
			return once(&seen[5]) && s.stringOrNull(&a.Country)
		}
		return s.unknown(key, "addressLine1", "addressLine2", "city", "stateOrProvince", "postalCode", "country")
	})
}

func (s *scanner) lines(dst *[]schemas.Line) bool {
	if s.literal("null") {
		*dst = nil
		return true
	}
	if !s.eat('[') {
		return false
	}
	lines := make([]schemas.Line, 0, 4)
	if s.eat(']') {
		*dst = lines
		return true
	}
	for {
		var l schemas.Line
		if !s.literal("null") {
			var seen [2]bool
			ok := s.object(func(key []byte) bool {
				switch string(key) {
				case "productId":
					return once(&seen[0]) && s.stringOrNull(&l.ProductID)
				case "quantity":
					return once(&seen[1]) && s.quantity(&l.Quantity)
				}
				return s.unknown(key, "productId", "quantity")
			})
			if !ok {
				return false
			}
		}
		lines = append(lines, l)
		if s.eat(']') {
			*dst = lines
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

// quantity reads a plain integer of at most 9 digits (or null).
func (s *scanner) quantity(dst *int) bool {
	if s.literal("null") {
		return true
	}
	s.ws()
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	start, n := s.i, 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > 9 || (digits > 1 && s.b[start] == '0') {
		return false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return false
		}
	}
	if neg {
		n = -n
	}
	*dst = n
	return true
}

// skip consumes any valid JSON value (depth-limited).
func (s *scanner) skip(depth int) bool {
	if depth > 32 {
		return false
	}
	switch s.peek() {
	case '{':
		return s.object(func(key []byte) bool { return s.skip(depth + 1) })
	case '[':
		s.i++
		if s.eat(']') {
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if s.eat(']') {
				return true
			}
			if !s.eat(',') {
				return false
			}
		}
	case '"':
		return s.skipString()
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

func (s *scanner) skipString() bool {
	s.i++ // opening quote
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			ok := utf8.Valid(s.b[start:s.i])
			s.i++
			return ok
		case c < 0x20:
			return false
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return false
					}
				}
				s.i += 6
			default:
				return false
			}
			continue
		}
		s.i++
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number consumes a JSON number (RFC 8259 grammar).
func (s *scanner) number() bool {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
