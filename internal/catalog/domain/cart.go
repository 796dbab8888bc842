package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

// Cart limits (an order allows 100 lines of 1..9999 each).
const (
	MaxCartItems    = 100
	MaxCartQuantity = 9999
)

// Cart is a shopper's cart.
type Cart struct {
	ID         string
	Items      map[string]int // productId → quantity
	CustomerID string         // set by the first checkout
	OrderID    string         // set once checked out
	ExpiresAt  time.Time
}

// CheckedOut reports whether the cart was turned into an order.
func (c Cart) CheckedOut() bool { return c.OrderID != "" }

// Lines returns the cart's items as order lines, ordered by product id, so
// the same cart always makes the same order body (and body hash).
func (c Cart) Lines() []schemas.Line {
	lines := make([]schemas.Line, 0, len(c.Items))
	for id, q := range c.Items {
		lines = append(lines, schemas.Line{ProductID: id, Quantity: q})
	}
	slices.SortFunc(lines, func(a, b schemas.Line) int { return strings.Compare(a.ProductID, b.ProductID) })
	return lines
}

// CheckQuantity validates the quantity of a cart item against the limits
// and what the catalog says is available. It returns "" when it is fine.
func CheckQuantity(q int, v View) string {
	switch {
	case q < 1 || q > MaxCartQuantity:
		return fmt.Sprintf("must be an integer between 1 and %d", MaxCartQuantity)
	case !v.IsActive:
		return "the product is not for sale"
	case !v.Availability.IsAvailable:
		return "the product is out of stock"
	case int64(q) > v.Availability.AvailableQuantity:
		return fmt.Sprintf("only %d available", v.Availability.AvailableQuantity)
	}
	return ""
}
