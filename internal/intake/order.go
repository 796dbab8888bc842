package intake

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/orderpipe/orderpipe/pkg/ident"
	"github.com/orderpipe/orderpipe/pkg/problem"
	"github.com/orderpipe/orderpipe/pkg/strictjson"
	"github.com/orderpipe/orderpipe/schemas"
)

// Limits of an order request (the HTTP contract).
const (
	MaxLines       = 100
	MaxQuantity    = 9999
	MaxKeyLength   = 255
	maxIDLength    = 128
	maxTextLength  = 200
	maxPostalCode  = 20
	maxErrorsShown = 200
)

// Problem types (RFC 9457 "type") the intake answers with.
const (
	TypeValidation     = "urn:orderpipe:problem:validation"
	TypeMalformed      = "urn:orderpipe:problem:malformed-json"
	TypeMissingKey     = "urn:orderpipe:problem:idempotency-key-missing"
	TypeKeyReused      = "urn:orderpipe:problem:idempotency-key-reused"
	TypeKeyInFlight    = "urn:orderpipe:problem:idempotency-key-in-flight"
	TypeRateLimited    = "urn:orderpipe:problem:rate-limited"
	TypeUnavailable    = "urn:orderpipe:problem:unavailable"
	TypeUnsupportedMed = "urn:orderpipe:problem:unsupported-media-type"
	TypeTooLarge       = "urn:orderpipe:problem:body-too-large"
)

// Order is a validated order request body (the seed API's field names).
type Order struct {
	CustomerID      string          `json:"customerId"`
	ShippingAddress schemas.Address `json:"shippingAddress"`
	Lines           []schemas.Line  `json:"lines"`
	Currency        string          `json:"currency,omitempty"`
}

// Parse decodes a JSON order body and validates it. Unknown fields are
// ignored; country and currency codes are upper-cased; an absent currency
// becomes defaultCurrency. Anything malformed or out of range gives a 400
// problem listing every invalid field; so does a member named twice in an
// object (case-insensitively, as encoding/json matches names) and nesting
// deeper than strictjson.MaxDepth.
func Parse(body []byte, defaultCurrency string) (Order, *problem.Problem) {
	o, fast := fastDecode(body)
	var err error
	if !fast {
		// A member named twice (or nesting beyond strictjson.MaxDepth) is
		// refused rather than read last-wins: a proxy reading first-wins
		// would see another order.
		if serr := strictjson.Check(body); serr != nil {
			return Order{}, problem.New(http.StatusBadRequest, TypeMalformed, serr.Error())
		}
		o = Order{}
		err = json.Unmarshal(body, &o)
	}
	var typeErrs []problem.FieldError
	if err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return Order{}, malformed(body, err)
		}
		// encoding/json reports the first wrong type only: walk the
		// document to name every one.
		typeErrs = typeErrors(body)
		if len(typeErrs) == 0 {
			typeErrs = []problem.FieldError{{Field: fieldName(te), Message: "has the wrong JSON type"}}
		}
	}
	if o.Currency == "" {
		o.Currency = defaultCurrency
	}
	o.ShippingAddress.Country = upperASCII(o.ShippingAddress.Country)
	o.Currency = upperASCII(o.Currency)
	errs := Validate(o)
	if len(typeErrs) > 0 {
		errs = mergeErrors(typeErrs, errs)
	}
	if len(errs) > 0 {
		return Order{}, Invalid(errs)
	}
	return o, nil
}

// Invalid is the 400 problem for a request with invalid fields.
func Invalid(errs []problem.FieldError) *problem.Problem {
	if len(errs) > maxErrorsShown {
		errs = errs[:maxErrorsShown]
	}
	p := problem.New(http.StatusBadRequest, TypeValidation, fmt.Sprintf("%d invalid field(s)", len(errs)))
	p.Errors = errs
	return p
}

func malformed(body []byte, err error) *problem.Problem {
	detail := "the body is not a JSON object: " + err.Error()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		detail = fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	} else if len(bytes.TrimSpace(body)) == 0 {
		detail = "the body is empty: want a JSON order"
	}
	return problem.New(http.StatusBadRequest, TypeMalformed, detail)
}

func fieldName(te *json.UnmarshalTypeError) string {
	if te.Field == "" {
		return "(body)"
	}
	return te.Field
}

// mergeErrors keeps every type error and the value errors of fields not
// inside one that has the wrong type.
func mergeErrors(typeErrs, valueErrs []problem.FieldError) []problem.FieldError {
	if len(typeErrs) == 1 && typeErrs[0].Field == "(body)" {
		return typeErrs
	}
	covered := func(field string) bool {
		for _, e := range typeErrs {
			if field == e.Field || strings.HasPrefix(field, e.Field+".") || strings.HasPrefix(field, e.Field+"[") {
				return true
			}
		}
		return false
	}
	out := typeErrs
	for _, e := range valueErrs {
		if !covered(e.Field) {
			out = append(out, e)
		}
	}
	return out
}

// Validate checks an order against the contract and lists every problem.
// Currency must already carry its default.
func Validate(o Order) []problem.FieldError {
	var v validator
	v.id("customerId", o.CustomerID)
	a := o.ShippingAddress
	v.text("shippingAddress.addressLine1", a.AddressLine1, true, maxTextLength)
	v.text("shippingAddress.addressLine2", a.AddressLine2, false, maxTextLength)
	v.text("shippingAddress.city", a.City, true, maxTextLength)
	v.text("shippingAddress.stateOrProvince", a.StateOrProvince, true, maxTextLength)
	v.text("shippingAddress.postalCode", a.PostalCode, true, maxPostalCode)
	if !IsCountry(a.Country) {
		v.add("shippingAddress.country", "must be an ISO 3166-1 alpha-2 country code (e.g. US)")
	}
	if !IsCurrency(o.Currency) {
		v.add("currency", "must be an ISO 4217 currency code (e.g. USD)")
	}
	switch n := len(o.Lines); {
	case n == 0:
		v.add("lines", "must have between 1 and 100 lines")
	case n > MaxLines:
		v.add("lines", fmt.Sprintf("has %d lines: at most %d allowed", n, MaxLines))
	default:
		for i, l := range o.Lines {
			v.id(fmt.Sprintf("lines[%d].productId", i), l.ProductID)
			if l.Quantity < 1 || l.Quantity > MaxQuantity {
				v.add(fmt.Sprintf("lines[%d].quantity", i), "must be an integer between 1 and 9999")
			}
		}
	}
	return v.errs
}

type validator struct{ errs []problem.FieldError }

func (v *validator) add(field, msg string) {
	v.errs = append(v.errs, problem.FieldError{Field: field, Message: msg})
}

// id checks an identifier (ident.Check): required, at most 128
// characters, valid UTF-8 (a query parameter can carry any bytes; an
// invalid byte in a JSON body decodes to U+FFFD, refused too), printable:
// no spaces, control characters, bidi overrides or zero-width characters.
func (v *validator) id(field, s string) {
	if why := ident.Check(s, maxIDLength); why != "" {
		v.add(field, why)
	}
}

func (v *validator) text(field, s string, required bool, maxLen int) {
	switch {
	case strings.TrimSpace(s) == "":
		if required {
			v.add(field, "is required")
		} else if s != "" {
			v.add(field, "must not be blank")
		}
	case utf8.RuneCountInString(s) > maxLen:
		v.add(field, fmt.Sprintf("must be at most %d characters", maxLen))
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		v.add(field, "must not contain control characters")
	}
}

// ValidateKey checks an Idempotency-Key header value: nil if it is usable.
func ValidateKey(key string) *problem.Problem {
	switch {
	case key == "":
		return problem.New(http.StatusBadRequest, TypeMissingKey, "the Idempotency-Key header is required")
	case len(key) > MaxKeyLength:
		p := Invalid([]problem.FieldError{{Field: "Idempotency-Key", Message: "must be at most 255 characters"}})
		return p
	case strings.IndexFunc(key, unicode.IsControl) >= 0 || !utf8.ValidString(key):
		return Invalid([]problem.FieldError{{Field: "Idempotency-Key", Message: "must be printable text"}})
	}
	return nil
}

// BodyHash is the canonical hash of an order (hex SHA-256 over its fields,
// each length-prefixed, in a fixed order): two bodies that mean the same
// order hash the same, whatever their field order, spacing or unknown fields.
func BodyHash(o Order) string {
	h := sha256.New()
	var buf [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint32(buf[:4], uint32(len(s)))
		h.Write(buf[:4])
		h.Write([]byte(s))
	}
	a := o.ShippingAddress
	for _, s := range []string{"v1", o.CustomerID, a.AddressLine1, a.AddressLine2, a.City, a.StateOrProvince, a.PostalCode, a.Country, o.Currency} {
		put(s)
	}
	binary.BigEndian.PutUint32(buf[:4], uint32(len(o.Lines)))
	h.Write(buf[:4])
	for _, l := range o.Lines {
		put(l.ProductID)
		binary.BigEndian.PutUint64(buf[:], uint64(l.Quantity))
		h.Write(buf[:])
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return strings.ToUpper(s)
		}
	}
	return s
}
