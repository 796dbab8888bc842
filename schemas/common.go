package schemas

import (
	"crypto/sha1" //nolint:gosec // G505: UUIDv5 is defined on SHA-1; an id, not a security check
	"encoding/binary"

	"github.com/google/uuid"
)

// Money is an amount in the currency's minor units (cents for USD).
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Address is a shipping address; Country is ISO 3166-1 alpha-2.
type Address struct {
	AddressLine1    string `json:"addressLine1"`
	AddressLine2    string `json:"addressLine2,omitempty"`
	City            string `json:"city"`
	StateOrProvince string `json:"stateOrProvince"`
	PostalCode      string `json:"postalCode"`
	Country         string `json:"country"`
}

// Line is one requested order line.
type Line struct {
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
}

// orderNamespace is the UUIDv5 namespace of order ids.
var orderNamespace = uuid.MustParse("6f1c3a52-7d0e-5b8e-9a51-0c4e2f6d8b17")

// lengthPrefixed joins parts so that no two different tuples give the same
// bytes: each part is preceded by its length as a 4-byte big-endian integer.
func lengthPrefixed(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += 4 + len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// RequestKey is the record key of orders.requests.v1 for an idempotency
// scope and key: both length-prefixed, so ("a", "bc") ≠ ("ab", "c").
func RequestKey(scope, key string) []byte { return lengthPrefixed(scope, key) }

// OrderID derives the order id from the idempotency scope and key
// (UUIDv5 over the length-prefixed pair): every retry gets the same id.
func OrderID(scope, key string) string {
	return uuid.NewHash(sha1.New(), //nolint:gosec // G401: UUIDv5 is defined on SHA-1; an id, not a security check
		orderNamespace, lengthPrefixed(scope, key), 5).String()
}
