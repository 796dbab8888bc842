package inventory

import (
	"github.com/orderpipe/orderpipe/pkg/jsonfast"
	"github.com/orderpipe/orderpipe/schemas"
)

// parseCommand decodes an inventory command. The common shape — a flat
// object with the schema's exact field names, strings without escapes and
// plain integers — is parsed directly with a jsonfast.Scanner; anything
// else (escapes, unknown or differently-cased fields, floats, nulls) goes
// to encoding/json, so the result is always what encoding/json gives
// (FuzzParseCommand checks it). Decoding was a sixth of the CPU.
func parseCommand(data []byte) (schemas.InventoryCommand, error) {
	return jsonfast.Decode(data, fastCommand)
}

// fastCommand reads the members in a loop rather than with a callback
// (jsonfast.Scanner.Object): it is the processor's hottest decoder.
func fastCommand(data []byte) (schemas.InventoryCommand, bool) {
	var c schemas.InventoryCommand
	s := jsonfast.NewScanner(data)
	for first := true; ; first = false {
		key, more, ok := s.NextKey(first)
		if !ok {
			return c, false
		}
		if !more {
			return c, s.End()
		}
		switch string(key) {
		case "type", "productId", "orderId", "currency", "adjustmentId", "reason":
			v, ok := s.PlainString()
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
			n, ok := s.Int()
			if !ok || n != int64(int(n)) {
				return c, false
			}
			if string(key) == "lineNo" {
				c.LineNo = int(n)
			} else {
				c.Quantity = int(n)
			}
		case "delta", "absolute":
			n, ok := s.Int()
			if !ok {
				return c, false
			}
			if string(key) == "delta" {
				c.Delta = &n
			} else {
				c.Absolute = &n
			}
		case "issuedAt":
			at, ok := s.Time()
			if !ok {
				return c, false
			}
			c.IssuedAt = at
		default:
			return c, false
		}
	}
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
