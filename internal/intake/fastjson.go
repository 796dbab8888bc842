package intake

import (
	"unicode/utf8"

	"github.com/orderpipe/orderpipe/pkg/jsonfast"
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
	d := decoder{jsonfast.NewScanner(b)}
	// Duplicates (and objects too large to check cheaply) go to Parse's
	// slow path, which refuses them.
	d.RefuseDuplicates()
	var o Order
	var seen [4]bool
	ok := d.Object(func(key []byte) bool {
		switch string(key) {
		case "customerId":
			return once(&seen[0]) && d.stringOrNull(&o.CustomerID)
		case "currency":
			return once(&seen[1]) && d.stringOrNull(&o.Currency)
		case "shippingAddress":
			return once(&seen[2]) && d.address(&o.ShippingAddress)
		case "lines":
			return once(&seen[3]) && d.lines(&o.Lines)
		}
		return d.unknown(key, "customerId", "currency", "shippingAddress", "lines")
	})
	return o, ok && d.End()
}

func once(seen *bool) bool {
	if *seen {
		return false
	}
	*seen = true
	return true
}

// decoder reads the parts of an order body.
type decoder struct {
	jsonfast.Scanner
}

func (d *decoder) stringOrNull(dst *string) bool {
	if d.Literal("null") {
		return true
	}
	str, ok := d.PlainString()
	*dst = string(str)
	return ok
}

// unknown skips the value of a key we do not read, unless the key would
// match one of ours case-insensitively (as encoding/json matches) or is
// not ASCII.
func (d *decoder) unknown(key []byte, known ...string) bool {
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
	return d.Skip()
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

func (d *decoder) address(a *schemas.Address) bool {
	if d.Literal("null") {
		return true
	}
	var seen [6]bool
	return d.Object(func(key []byte) bool {
		switch string(key) {
		case "addressLine1":
			return once(&seen[0]) && d.stringOrNull(&a.AddressLine1)
		case "addressLine2":
			return once(&seen[1]) && d.stringOrNull(&a.AddressLine2)
		case "city":
			return once(&seen[2]) && d.stringOrNull(&a.City)
		case "stateOrProvince":
			return once(&seen[3]) && d.stringOrNull(&a.StateOrProvince)
		case "postalCode":
			return once(&seen[4]) && d.stringOrNull(&a.PostalCode)
		case "country":
			return once(&seen[5]) && d.stringOrNull(&a.Country)
		}
		return d.unknown(key, "addressLine1", "addressLine2", "city", "stateOrProvince", "postalCode", "country")
	})
}

func (d *decoder) lines(dst *[]schemas.Line) bool {
	if d.Literal("null") {
		*dst = nil
		return true
	}
	lines := make([]schemas.Line, 0, 4)
	ok := d.Array(func() bool {
		var l schemas.Line
		if !d.Literal("null") {
			var seen [2]bool
			ok := d.Object(func(key []byte) bool {
				switch string(key) {
				case "productId":
					return once(&seen[0]) && d.stringOrNull(&l.ProductID)
				case "quantity":
					return once(&seen[1]) && d.quantity(&l.Quantity)
				}
				return d.unknown(key, "productId", "quantity")
			})
			if !ok {
				return false
			}
		}
		lines = append(lines, l)
		return true
	})
	*dst = lines
	return ok
}

// quantity reads a plain integer of at most 9 digits (or null).
func (d *decoder) quantity(dst *int) bool {
	if d.Literal("null") {
		return true
	}
	n, ok := d.Int()
	if !ok || n < -999_999_999 || n > 999_999_999 {
		return false
	}
	*dst = int(n)
	return true
}
