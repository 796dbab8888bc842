// Package domain is the inventory state machine: a product's stock, its
// order lines and its adjustments, and the rules that change them. It is
// plain Go — no Kafka — so every rule is a table test.
//
// Invariants, checked after every change (Stock.Check):
//
//	OnHand    = Adjusted − Sold            (units in the warehouse)
//	0 ≤ Reserved ≤ OnHand                  (available = OnHand − Reserved ≥ 0)
//
// so initial + Σ adjustments = available + reserved + sold for every product,
// and no reservation can take stock that is not there.
package domain

import (
	"errors"
	"fmt"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

// ErrInvalid marks a command that can never be applied (bad quantity,
// missing ids): the adapter sends it to the dead-letter queue.
var ErrInvalid = errors.New("invalid inventory command")

// ErrInvariant is a broken stock invariant: a bug, never a business outcome.
var ErrInvariant = errors.New("stock invariant violated")

// Stock is one product's stock.
type Stock struct {
	OnHand    int64     `json:"onHand"`   // units in the warehouse; sold units have left
	Reserved  int64     `json:"reserved"` // units held for order lines not yet confirmed
	Sold      int64     `json:"sold"`     // units that left with confirmed (committed) lines
	Adjusted  int64     `json:"adjusted"` // sum of accepted adjustments' effect on OnHand
	Version   int64     `json:"version"`  // +1 on every change
	UpdatedAt time.Time `json:"updatedAt"`
}

// Available is what a reservation can still take.
func (s Stock) Available() int64 { return s.OnHand - s.Reserved }

// Check verifies the invariants.
func (s Stock) Check() error {
	switch {
	case s.Reserved < 0:
		return fmt.Errorf("%w: reserved %d < 0", ErrInvariant, s.Reserved)
	case s.Reserved > s.OnHand:
		return fmt.Errorf("%w: reserved %d > on hand %d", ErrInvariant, s.Reserved, s.OnHand)
	case s.OnHand != s.Adjusted-s.Sold:
		return fmt.Errorf("%w: on hand %d ≠ adjusted %d − sold %d", ErrInvariant, s.OnHand, s.Adjusted, s.Sold)
	}
	return nil
}

func (s Stock) touched(now time.Time) Stock {
	s.Version++
	s.UpdatedAt = now
	return s
}

// Product is what inventory needs of a catalog product.
type Product struct {
	Price  schemas.Money `json:"price"`
	Active bool          `json:"active"`
}

// LineStatus is an order line's state in a product's ledger.
type LineStatus string

// Line states. Reserved is the only one that holds stock; the others are
// final, and a line never returns to reserved.
const (
	LineReserved  LineStatus = "reserved"
	LineRejected  LineStatus = "rejected"
	LineCommitted LineStatus = "committed"
	LineReleased  LineStatus = "released"
)

// Line is one order line's reservation of a product.
type Line struct {
	Status    LineStatus    `json:"status"`
	Quantity  int64         `json:"quantity"`
	UnitPrice schemas.Money `json:"unitPrice"`        // fixed when reserved
	Reason    string        `json:"reason,omitempty"` // when rejected
	At        time.Time     `json:"at"`               // when the reservation was answered
	UpdatedAt time.Time     `json:"updatedAt"`
}

// Result is the answer to a Reserve.
type Result struct {
	Reserved  bool
	Quantity  int64
	UnitPrice schemas.Money // when reserved
	Reason    string        // when rejected
	At        time.Time
}

// Result is the answer this line gave (and gives again to a duplicate).
func (l Line) Result() Result {
	r := Result{Quantity: l.Quantity, At: l.At}
	if l.Status == LineRejected {
		r.Reason = l.Reason
	} else {
		r.Reserved = true
		r.UnitPrice = l.UnitPrice
	}
	return r
}

// Reserve asks for Quantity units for one order line.
type Reserve struct {
	OrderID  string
	LineNo   int
	Quantity int64
	Currency string // the order's currency; empty accepts the product's
}

// Validate rejects commands that can never apply.
func (c Reserve) Validate() error {
	if c.OrderID == "" || c.LineNo < 0 || c.Quantity < 1 {
		return fmt.Errorf("%w: reserve needs orderId, lineNo ≥ 0 and quantity ≥ 1 (got %q, %d, %d)", ErrInvalid, c.OrderID, c.LineNo, c.Quantity)
	}
	return nil
}

// Reservation is the outcome of a Reserve: the new stock and line, the
// answer, and whether the command was a duplicate (nothing changed).
type Reservation struct {
	Stock     Stock
	Line      Line
	Result    Result
	Duplicate bool
}

// ReserveLine decides a reservation. line/found is the line's current
// state; product/known the catalog entry at this moment. A line that was
// answered before answers the same again and changes nothing.
func ReserveLine(st Stock, line Line, found bool, product Product, known bool, c Reserve, now time.Time) (Reservation, error) {
	if err := c.Validate(); err != nil {
		return Reservation{}, err
	}
	if found {
		return Reservation{Stock: st, Line: line, Result: line.Result(), Duplicate: true}, nil
	}
	reject := func(reason string) (Reservation, error) {
		l := Line{Status: LineRejected, Quantity: c.Quantity, Reason: reason, At: now, UpdatedAt: now}
		return Reservation{Stock: st, Line: l, Result: l.Result()}, nil
	}
	switch {
	case !known:
		return reject(schemas.ReasonUnknownProduct)
	case !product.Active:
		return reject(schemas.ReasonInactiveProduct)
	case c.Currency != "" && c.Currency != product.Price.Currency:
		return reject(schemas.ReasonCurrencyMismatch)
	case st.Available() < c.Quantity:
		return reject(schemas.ReasonInsufficientStock)
	}
	st.Reserved += c.Quantity
	st = st.touched(now)
	if err := st.Check(); err != nil {
		return Reservation{}, err
	}
	l := Line{Status: LineReserved, Quantity: c.Quantity, UnitPrice: product.Price, At: now, UpdatedAt: now}
	return Reservation{Stock: st, Line: l, Result: l.Result()}, nil
}

// ReleaseLine frees a reserved line's units (order rejected, cancelled or
// timed out). Releasing a line that holds nothing — unknown, rejected,
// released or committed — changes nothing (changed=false).
func ReleaseLine(st Stock, line Line, found bool, now time.Time) (Stock, Line, bool, error) {
	if !found || line.Status != LineReserved {
		return st, line, false, nil
	}
	st.Reserved -= line.Quantity
	st = st.touched(now)
	if err := st.Check(); err != nil {
		return st, line, false, err
	}
	line.Status, line.UpdatedAt = LineReleased, now
	return st, line, true, nil
}

// CommitLine turns a reserved line into a sale (order confirmed): its units
// leave the warehouse. Anything but a reserved line is left alone.
func CommitLine(st Stock, line Line, found bool, now time.Time) (Stock, Line, bool, error) {
	if !found || line.Status != LineReserved {
		return st, line, false, nil
	}
	st.Reserved -= line.Quantity
	st.OnHand -= line.Quantity
	st.Sold += line.Quantity
	st = st.touched(now)
	if err := st.Check(); err != nil {
		return st, line, false, err
	}
	line.Status, line.UpdatedAt = LineCommitted, now
	return st, line, true, nil
}

// Adjust changes a product's on-hand stock (admin restock, stock count).
// Exactly one of Delta and Absolute is set; ID deduplicates.
type Adjust struct {
	ID       string
	Delta    *int64
	Absolute *int64
	Reason   string
}

// Validate rejects commands that can never apply.
func (c Adjust) Validate() error {
	if c.ID == "" || (c.Delta == nil) == (c.Absolute == nil) {
		return fmt.Errorf("%w: adjust needs adjustmentId and exactly one of delta and absolute", ErrInvalid)
	}
	if c.Absolute != nil && *c.Absolute < 0 {
		return fmt.Errorf("%w: absolute stock %d < 0", ErrInvalid, *c.Absolute)
	}
	return nil
}

// Adjustment records an adjustment's outcome, for deduplication.
type Adjustment struct {
	Accepted bool      `json:"accepted"`
	Effect   int64     `json:"effect"`           // change of OnHand when accepted
	Reason   string    `json:"reason,omitempty"` // when rejected
	At       time.Time `json:"at"`
}

// Adjustment rejection reasons.
const (
	ReasonBelowReserved = "below_reserved" // would leave fewer units on hand than are reserved
)

// AdjustStock applies an adjustment once. A repeated adjustment ID returns
// the recorded outcome and changes nothing (duplicate=true). An adjustment
// that would put on-hand below what is reserved is rejected: reservations
// already promised stay whole.
func AdjustStock(st Stock, prev Adjustment, seen bool, c Adjust, now time.Time) (Stock, Adjustment, bool, error) {
	if err := c.Validate(); err != nil {
		return st, Adjustment{}, false, err
	}
	if seen {
		return st, prev, true, nil
	}
	target := st.OnHand
	if c.Delta != nil {
		target += *c.Delta
	} else {
		target = *c.Absolute
	}
	if target < st.Reserved {
		return st, Adjustment{Reason: ReasonBelowReserved, At: now}, false, nil
	}
	effect := target - st.OnHand
	st.OnHand = target
	st.Adjusted += effect
	st = st.touched(now)
	if err := st.Check(); err != nil {
		return st, Adjustment{}, false, err
	}
	return st, Adjustment{Accepted: true, Effect: effect, At: now}, false, nil
}
