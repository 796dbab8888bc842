package saga

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/orderpipe/orderpipe/schemas"
)

// ErrInvalid marks an input that can never be applied (a malformed request,
// an answer that does not fit its order): the adapter dead-letters it.
var ErrInvalid = errors.New("invalid saga input")

// Limits of an order, as the public schemas state them.
const (
	MaxLines    = 100
	MaxQuantity = 9999
)

var (
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	countryRE  = regexp.MustCompile(`^[A-Z]{2}$`)
	hashRE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// CheckRequest rejects a request that can never become an order: one the
// ingress would not have written, or whose orderId is not the one derived
// from its idempotency scope and key (every retry must land on one order).
func CheckRequest(r schemas.OrderRequest) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.IdempotencyKey == "" || len(r.IdempotencyKey) > 255 {
		bad("idempotencyKey: want 1..255 bytes")
	}
	if _, err := uuid.Parse(r.OrderID); err != nil {
		bad("orderId %q is not a UUID", r.OrderID)
	} else if want := schemas.OrderID(r.Scope, r.IdempotencyKey); r.OrderID != want {
		bad("orderId %s is not the id of its scope and key (%s)", r.OrderID, want)
	}
	if !hashRE.MatchString(r.BodyHash) {
		bad("bodyHash: want 64 lowercase hex digits")
	}
	if r.CustomerID == "" {
		bad("customerId is empty")
	}
	if !currencyRE.MatchString(r.Currency) {
		bad("currency %q is not ISO 4217", r.Currency)
	}
	a := r.ShippingAddress
	if a.AddressLine1 == "" || a.City == "" || !countryRE.MatchString(a.Country) {
		bad("shippingAddress: addressLine1, city and an ISO 3166-1 alpha-2 country are required")
	}
	if len(r.Lines) < 1 || len(r.Lines) > MaxLines {
		bad("%d lines: want 1..%d", len(r.Lines), MaxLines)
	}
	for i, l := range r.Lines {
		if l.ProductID == "" || l.Quantity < 1 || l.Quantity > MaxQuantity {
			bad("line %d: productId %q quantity %d: want a product and 1..%d", i+1, l.ProductID, l.Quantity, MaxQuantity)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Seen is what the dedupe store keeps of an admitted request, per order
// (the order id is derived from the idempotency scope and key, so it stands
// for the key): the request key and the body hash of the first request, and
// when the saga admitted it (the idempotency window runs from then).
type Seen struct {
	Key      []byte    `json:"key"`      // the orders.requests.v1 record key (scope‖key)
	BodyHash string    `json:"bodyHash"` // of the first request; it stands
	At       time.Time `json:"at"`
}

// Decision is what Admit says about a request.
type Decision int

// Decisions.
const (
	New       Decision = iota + 1 // first request of its key: place the order
	Duplicate                     // same key, same body: a retry, drop it
	Conflict                      // same key, different body: record it, never a second order
)

func (d Decision) String() string {
	switch d {
	case New:
		return "new"
	case Duplicate:
		return "duplicate"
	case Conflict:
		return "conflict"
	}
	return "unknown"
}

// Admit decides a request for an order: first write wins. seen/found is
// the dedupe entry of the request's order.
func Admit(seen Seen, found bool, key []byte, bodyHash string) Decision {
	switch {
	case !found:
		return New
	case seen.BodyHash == bodyHash && string(seen.Key) == string(key):
		return Duplicate
	default:
		return Conflict
	}
}
