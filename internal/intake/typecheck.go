package intake

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/orderpipe/orderpipe/pkg/problem"
)

// typeErrors walks a JSON document that decoded with a type error and names
// every field whose JSON type is wrong (null counts as absent). It is the
// slow path: only bodies that already failed come here.
func typeErrors(body []byte) []problem.FieldError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil
	}
	var errs []problem.FieldError
	bad := func(field, want string) {
		errs = append(errs, problem.FieldError{Field: field, Message: "must be " + want})
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return []problem.FieldError{{Field: "(body)", Message: "must be a JSON object"}}
	}
	str := func(m map[string]any, name, path string) {
		if v, ok := m[name]; ok && v != nil {
			if _, ok := v.(string); !ok {
				bad(path, "a string")
			}
		}
	}
	str(root, "customerId", "customerId")
	str(root, "currency", "currency")
	if v, ok := root["shippingAddress"]; ok && v != nil {
		addr, ok := v.(map[string]any)
		if !ok {
			bad("shippingAddress", "an object")
		} else {
			for _, f := range []string{"addressLine1", "addressLine2", "city", "stateOrProvince", "postalCode", "country"} {
				str(addr, f, "shippingAddress."+f)
			}
		}
	}
	if v, ok := root["lines"]; ok && v != nil {
		lines, ok := v.([]any)
		if !ok {
			bad("lines", "an array")
			return errs
		}
		for i, lv := range lines {
			if i >= MaxLines {
				break
			}
			path := fmt.Sprintf("lines[%d]", i)
			line, ok := lv.(map[string]any)
			if !ok {
				if lv != nil {
					bad(path, "an object")
				}
				continue
			}
			str(line, "productId", path+".productId")
			if q, ok := line["quantity"]; ok && q != nil {
				n, isNum := q.(json.Number)
				if _, err := n.Int64(); !isNum || err != nil {
					bad(path+".quantity", "an integer between 1 and 9999")
				}
			}
		}
	}
	return errs
}
