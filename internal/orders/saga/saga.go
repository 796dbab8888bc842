package saga

import (
	"fmt"
	"math"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

// Answer states of a line.
const (
	LineWaiting  = ""         // no answer from inventory yet
	LineReserved = "reserved" // reserved, at UnitPrice
	LineRejected = "rejected" // could not be reserved, for Reason
)

// Answer is inventory's answer for one line.
type Answer struct {
	State     string `json:"s,omitempty"`
	UnitPrice int64  `json:"p,omitempty"` // minor units of the order's currency, when reserved
	Reason    string `json:"r,omitempty"` // when rejected
}

// Saga is a pending order: what the saga store keeps until the order ends.
type Saga struct {
	OrderID        string          `json:"orderId"`
	CustomerID     string          `json:"customerId"`
	IdempotencyKey string          `json:"idempotencyKey"`
	Address        schemas.Address `json:"shippingAddress"`
	Lines          []schemas.Line  `json:"lines"`
	Currency       string          `json:"currency"`
	Version        int64           `json:"version"`
	Status         string          `json:"status"`
	PlacedAt       time.Time       `json:"placedAt"`
	Deadline       time.Time       `json:"deadline"`
	Answers        []Answer        `json:"answers"` // Answers[i] is line i+1's
}

// Clone implements streams.Cloner: the runtime hands handlers a copy.
func (s Saga) Clone() Saga {
	s.Lines = append([]schemas.Line(nil), s.Lines...)
	s.Answers = append([]Answer(nil), s.Answers...)
	return s
}

// Held is a cancel that arrived before its order: Place applies it.
type Held struct {
	CommandID string    `json:"commandId"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
}

// Cancel asks to cancel an order.
type Cancel struct {
	CommandID string
	Reason    string
}

// Step says what became of the saga.
type Step int

// Steps.
const (
	Unchanged Step = iota // nothing to store or emit (a duplicate answer)
	Updated               // store the saga; it is still pending
	Finished              // the order ended: forget the saga
)

// Effects is what one step emits, all in the input's transaction: order
// events (orders.events.v1), inventory commands (inventory.commands.v1) and
// the order's new state (orders.state.v1), each with the order's version.
type Effects struct {
	Step     Step
	Events   []schemas.OrderEvent
	Commands []schemas.InventoryCommand
	State    *schemas.OrderState // nil: the state did not change
}

// Place starts the saga of an admitted request at now: the order is PENDING
// at version 1, OrderPlaced and one Reserve per line are emitted, and the
// deadline is now+timeout (the saga's own clock: a backlog does not time out
// in bulk). A held cancel ends the order at once — OrderPlaced, then
// OrderCancelled — and reserves nothing.
func Place(r schemas.OrderRequest, held *Held, now time.Time, timeout time.Duration) (Saga, Effects) {
	s := Saga{
		OrderID: r.OrderID, CustomerID: r.CustomerID, IdempotencyKey: r.IdempotencyKey,
		Address: r.ShippingAddress, Lines: append([]schemas.Line(nil), r.Lines...), Currency: r.Currency,
		Version: 1, Status: schemas.StatusPending, PlacedAt: now, Deadline: now.Add(timeout),
		Answers: make([]Answer, len(r.Lines)),
	}
	addr := s.Address
	placed := s.event(schemas.TypeOrderPlaced, now)
	placed.IdempotencyKey, placed.ShippingAddress = s.IdempotencyKey, &addr
	placed.Lines, placed.Currency = append([]schemas.Line(nil), s.Lines...), s.Currency
	fx := Effects{Step: Updated, Events: []schemas.OrderEvent{placed}}
	if held != nil {
		s.Version++
		s.Status = schemas.StatusCancelled
		ev := s.event(schemas.TypeOrderCancelled, now)
		ev.Reason = held.Reason
		fx.Step = Finished
		fx.Events = append(fx.Events, ev)
		fx.State = s.state(now, held.Reason, nil, nil)
		return s, fx
	}
	for i, l := range s.Lines {
		fx.Commands = append(fx.Commands, schemas.InventoryCommand{
			Type: schemas.CmdReserve, ProductID: l.ProductID, OrderID: s.OrderID, LineNo: i + 1,
			Quantity: l.Quantity, Currency: s.Currency, IssuedAt: now,
		})
	}
	fx.State = s.state(now, "", nil, nil)
	return s, fx
}

// Result is inventory's answer to one line's Reserve.
type Result struct {
	LineNo    int
	ProductID string
	Quantity  int
	Reserved  bool
	UnitPrice schemas.Money // when reserved
	Reason    string        // when rejected
}

// Answer applies inventory's answer for a line. A line answered before
// (a duplicate answer) changes nothing. The first rejected line rejects the
// order at once; the last reserved line confirms it.
func (s Saga) Answer(r Result, now time.Time) (Saga, Effects, error) {
	if r.LineNo < 1 || r.LineNo > len(s.Lines) {
		return s, Effects{}, fmt.Errorf("%w: order %s has no line %d", ErrInvalid, s.OrderID, r.LineNo)
	}
	line := s.Lines[r.LineNo-1]
	if r.ProductID != line.ProductID || r.Quantity != line.Quantity {
		return s, Effects{}, fmt.Errorf("%w: answer for line %d of order %s is for %s×%d, the line is %s×%d",
			ErrInvalid, r.LineNo, s.OrderID, r.ProductID, r.Quantity, line.ProductID, line.Quantity)
	}
	if s.Status != schemas.StatusPending || s.Answers[r.LineNo-1].State != LineWaiting {
		return s, Effects{}, nil
	}
	a := Answer{State: LineRejected, Reason: r.Reason}
	switch {
	case r.Reserved && r.UnitPrice.Currency != s.Currency:
		a.Reason = schemas.ReasonCurrencyMismatch // inventory checks it; a price in another currency never counts
	case r.Reserved && r.UnitPrice.Amount < 0:
		return s, Effects{}, fmt.Errorf("%w: line %d of order %s priced %d", ErrInvalid, r.LineNo, s.OrderID, r.UnitPrice.Amount)
	case r.Reserved:
		a = Answer{State: LineReserved, UnitPrice: r.UnitPrice.Amount}
	case a.Reason == "":
		return s, Effects{}, fmt.Errorf("%w: line %d of order %s rejected without a reason", ErrInvalid, r.LineNo, s.OrderID)
	}
	s = s.Clone()
	s.Answers[r.LineNo-1] = a
	if a.State == LineRejected {
		return s.reject(a.Reason, now)
	}
	for _, x := range s.Answers {
		if x.State != LineReserved {
			return s, Effects{Step: Updated}, nil
		}
	}
	return s.confirm(now)
}

// Cancel cancels a pending order: OrderCancelled and a Release for every
// line. A finished order is left alone (cancel after confirmation is
// refused at the API; of a rejected or cancelled order it is a no-op).
func (s Saga) Cancel(c Cancel, now time.Time) (Saga, Effects) {
	if s.Status != schemas.StatusPending {
		return s, Effects{}
	}
	s.Version++
	s.Status = schemas.StatusCancelled
	ev := s.event(schemas.TypeOrderCancelled, now)
	ev.Reason = c.Reason
	return s, Effects{Step: Finished, Events: []schemas.OrderEvent{ev}, Commands: s.finishLines(schemas.CmdRelease, now),
		State: s.state(now, c.Reason, nil, nil)}
}

// Expired reports whether the pending order's deadline has passed at now.
func (s Saga) Expired(now time.Time) bool {
	return s.Status == schemas.StatusPending && !now.Before(s.Deadline)
}

// Timeout rejects a pending order whose deadline has passed, with reason
// timeout, listing the lines that never got an answer; every line is
// released. Before the deadline it changes nothing.
func (s Saga) Timeout(now time.Time) (Saga, Effects) {
	if !s.Expired(now) {
		return s, Effects{}
	}
	var waiting []schemas.RejectedLine
	for i, a := range s.Answers {
		if a.State == LineWaiting {
			waiting = append(waiting, schemas.RejectedLine{LineNo: i + 1, ProductID: s.Lines[i].ProductID, Reason: schemas.ReasonTimeout})
		}
	}
	s, fx, _ := s.end(schemas.StatusRejected, schemas.TypeOrderRejected, schemas.ReasonTimeout, waiting, now)
	return s, fx
}

func (s Saga) reject(reason string, now time.Time) (Saga, Effects, error) {
	var lines []schemas.RejectedLine
	for i, a := range s.Answers {
		if a.State == LineRejected {
			lines = append(lines, schemas.RejectedLine{LineNo: i + 1, ProductID: s.Lines[i].ProductID, Reason: a.Reason})
		}
	}
	return s.end(schemas.StatusRejected, schemas.TypeOrderRejected, reason, lines, now)
}

func (s Saga) end(status, eventType, reason string, lines []schemas.RejectedLine, now time.Time) (Saga, Effects, error) {
	s.Version++
	s.Status = status
	ev := s.event(eventType, now)
	ev.Reason, ev.RejectedLines = reason, lines
	return s, Effects{Step: Finished, Events: []schemas.OrderEvent{ev}, Commands: s.finishLines(schemas.CmdRelease, now),
		State: s.state(now, reason, lines, nil)}, nil
}

func (s Saga) confirm(now time.Time) (Saga, Effects, error) {
	priced := make([]schemas.PricedLine, len(s.Lines))
	var total int64
	for i, l := range s.Lines {
		unit := s.Answers[i].UnitPrice
		if unit > 0 && int64(l.Quantity) > math.MaxInt64/unit {
			return s, Effects{}, fmt.Errorf("%w: line %d of order %s: %d × %d overflows", ErrInvalid, i+1, s.OrderID, unit, l.Quantity)
		}
		lineTotal := unit * int64(l.Quantity)
		if total > math.MaxInt64-lineTotal {
			return s, Effects{}, fmt.Errorf("%w: order %s: the total overflows", ErrInvalid, s.OrderID)
		}
		total += lineTotal
		priced[i] = schemas.PricedLine{LineNo: i + 1, ProductID: l.ProductID, Quantity: l.Quantity,
			UnitPrice: schemas.Money{Amount: unit, Currency: s.Currency}, LineTotal: schemas.Money{Amount: lineTotal, Currency: s.Currency}}
	}
	sum := schemas.Money{Amount: total, Currency: s.Currency}
	s.Version++
	s.Status = schemas.StatusConfirmed
	ev := s.event(schemas.TypeOrderConfirmed, now)
	ev.Currency, ev.PricedLines, ev.Total = s.Currency, priced, &sum
	st := s.state(now, "", nil, priced)
	st.Total = &sum
	return s, Effects{Step: Finished, Events: []schemas.OrderEvent{ev}, Commands: s.finishLines(schemas.CmdCommit, now), State: st}, nil
}

// finishLines is one Commit or Release per line.
func (s Saga) finishLines(cmd string, now time.Time) []schemas.InventoryCommand {
	out := make([]schemas.InventoryCommand, len(s.Lines))
	for i, l := range s.Lines {
		out[i] = schemas.InventoryCommand{Type: cmd, ProductID: l.ProductID, OrderID: s.OrderID, LineNo: i + 1, IssuedAt: now}
	}
	return out
}

func (s Saga) event(eventType string, now time.Time) schemas.OrderEvent {
	return schemas.OrderEvent{Type: eventType, OrderID: s.OrderID, Version: s.Version, CustomerID: s.CustomerID, OccurredAt: now}
}

func (s Saga) state(now time.Time, reason string, rejected []schemas.RejectedLine, priced []schemas.PricedLine) *schemas.OrderState {
	return &schemas.OrderState{
		OrderID: s.OrderID, Version: s.Version, Status: s.Status, CustomerID: s.CustomerID,
		ShippingAddress: s.Address, Lines: append([]schemas.Line(nil), s.Lines...), Currency: s.Currency,
		PricedLines: priced, Reason: reason, RejectedLines: rejected, CreatedAt: s.PlacedAt, UpdatedAt: now,
	}
}
