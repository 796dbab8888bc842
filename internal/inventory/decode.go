package inventory

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

// parseCommand decodes an inventory command. The common shape — a flat
// object with the schema's exact field names, strings without escapes and
// plain integers — is parsed directly; anything else (escapes, unknown or
// differently-cased fields, floats, nulls, odd whitespace) goes to
// encoding/json, so the result is always what encoding/json gives
// (FuzzParseCommand checks it). Decoding was a sixth of the CPU.
func parseCommand(data []byte) (schemas.InventoryCommand, error) {
	if c, ok := fastCommand(data); ok {
		return c, nil
	}
	var c schemas.InventoryCommand
	err := json.Unmarshal(data, &c)
	return c, err
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

func (s *scanner) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters, and only
// ASCII (encoding/json replaces invalid UTF-8, which we leave to it).
func (s *scanner) str() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

// int reads a JSON integer that fits an int64.
func (s *scanner) int() (int64, bool) {
	s.ws()
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
	if s.i < len(s.b) {
		if c := s.b[s.i]; c == '.' || c == 'e' || c == 'E' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	return n, err == nil
}

func fastCommand(data []byte) (schemas.InventoryCommand, bool) {
	var c schemas.InventoryCommand
	s := scanner{b: data}
	if !s.eat('{') {
		return c, false
	}
	if s.eat('}') {
		return c, s.end()
	}
	for {
		key, ok := s.str()
		if !ok || !s.eat(':') {
			return c, false
		}
		switch string(key) {
		case "type", "productId", "orderId", "currency", "adjustmentId", "reason":
			v, ok := s.str()
			if !ok {
				return c, false
			}
			switch string(key) {
			case "type":
				c.Type = intern(v)
			case "productId":
				c.ProductID = string(v)
			case "orderId":
				c.OrderID = string(v)
			case "currency":
				c.Currency = intern(v)
			case "adjustmentId":
				c.AdjustmentID = string(v)
			case "reason":
				c.Reason = string(v)
			}
		case "lineNo", "quantity":
			n, ok := s.int()
			if !ok || n != int64(int(n)) {
				return c, false
			}
			if string(key) == "lineNo" {
				c.LineNo = int(n)
			} else {
				c.Quantity = int(n)
			}
		case "delta", "absolute":
			n, ok := s.int()
			if !ok {
				return c, false
			}
			if string(key) == "delta" {
				c.Delta = &n
			} else {
				c.Absolute = &n
			}
		case "issuedAt":
			s.ws()
			start := s.i
			if _, ok := s.str(); !ok {
				return c, false
			}
			var at time.Time
			if at.UnmarshalJSON(s.b[start:s.i]) != nil {
				return c, false
			}
			c.IssuedAt = at
		default:
			return c, false
		}
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			return c, s.end()
		}
		return c, false
	}
}

func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// intern returns the common command types and currencies without
// allocating a new string for each command.
func intern(b []byte) string {
	switch string(b) { // no allocation: the compiler compares in place
	case schemas.CmdReserve:
		return schemas.CmdReserve
	case schemas.CmdRelease:
		return schemas.CmdRelease
	case schemas.CmdCommit:
		return schemas.CmdCommit
	case schemas.CmdAdjust:
		return schemas.CmdAdjust
	case "USD":
		return "USD"
	case "EUR":
		return "EUR"
	case "GBP":
		return "GBP"
	}
	return string(b)
}
