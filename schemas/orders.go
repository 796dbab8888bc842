package schemas

import "time"

// CloudEvents types (ce_type header) of order records.
const (
	TypeOrderRequested = "io.orderpipe.order.requested.v1"
	TypeOrderCancelReq = "io.orderpipe.order.cancel-requested.v1"
	TypeOrderPlaced    = "io.orderpipe.order.placed.v1"
	TypeOrderConfirmed = "io.orderpipe.order.confirmed.v1"
	TypeOrderRejected  = "io.orderpipe.order.rejected.v1"
	TypeOrderCancelled = "io.orderpipe.order.cancelled.v1"
	TypeOrderState     = "io.orderpipe.order.state.v1"
)

// Order statuses, as the API and orders.state.v1 show them.
const (
	StatusAccepted  = "ACCEPTED"  // durable in Kafka, not yet seen by the order-processor
	StatusPending   = "PENDING"   // placed, reservations in flight
	StatusConfirmed = "CONFIRMED" // every line reserved and priced
	StatusRejected  = "REJECTED"  // a line could not be reserved, or the saga timed out
	StatusCancelled = "CANCELLED" // cancelled before confirmation
)

// OrderRequest is the value on orders.requests.v1, written by the ingress
// once per accepted request. Key: RequestKey(Scope, IdempotencyKey);
// partition: that of OrderID under the default (murmur2) partitioner.
type OrderRequest struct {
	OrderID         string    `json:"orderId"`
	Scope           string    `json:"scope"`
	IdempotencyKey  string    `json:"idempotencyKey"`
	BodyHash        string    `json:"bodyHash"` // hex SHA-256 of the canonical request body
	CustomerID      string    `json:"customerId"`
	ShippingAddress Address   `json:"shippingAddress"`
	Lines           []Line    `json:"lines"`
	Currency        string    `json:"currency"`
	ReceivedAt      time.Time `json:"receivedAt"`
}

// OrderCommand is the value on orders.commands.v1 (key orderId).
type OrderCommand struct {
	Type        string    `json:"type"` // "cancel"
	OrderID     string    `json:"orderId"`
	CommandID   string    `json:"commandId"`
	Scope       string    `json:"scope,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	RequestedAt time.Time `json:"requestedAt"`
}

// OrderCommand types.
const CommandCancel = "cancel"

// PricedLine is an order line with the price fixed at reservation. LineNo is
// 1-based: line i of the request (0-based) is LineNo i+1. LineTotal is
// UnitPrice × Quantity, in the order's currency.
type PricedLine struct {
	LineNo    int    `json:"lineNo"`
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
	UnitPrice Money  `json:"unitPrice"`
	LineTotal Money  `json:"lineTotal"`
}

// RejectedLine names a line that could not be reserved, and why.
type RejectedLine struct {
	LineNo    int    `json:"lineNo"`
	ProductID string `json:"productId"`
	Reason    string `json:"reason"`
}

// OrderEvent is the value on orders.events.v1 (key orderId). Type says which
// fields are set; it matches the ce_type header. Every event carries
// orderId, customerId, occurredAt and version (the order's version after the
// event: the same number as the orders.state.v1 record written with it).
type OrderEvent struct {
	Type       string    `json:"type"`
	OrderID    string    `json:"orderId"`
	Version    int64     `json:"version"`
	CustomerID string    `json:"customerId,omitempty"` // every event
	OccurredAt time.Time `json:"occurredAt"`

	// OrderPlaced
	IdempotencyKey  string   `json:"idempotencyKey,omitempty"`
	ShippingAddress *Address `json:"shippingAddress,omitempty"`
	Lines           []Line   `json:"lines,omitempty"`
	Currency        string   `json:"currency,omitempty"`

	// OrderConfirmed (Currency is set here too)
	PricedLines []PricedLine `json:"pricedLines,omitempty"`
	Total       *Money       `json:"total,omitempty"`

	// OrderRejected, OrderCancelled
	Reason        string         `json:"reason,omitempty"`
	RejectedLines []RejectedLine `json:"rejectedLines,omitempty"`
}

// OrderState is the value on orders.state.v1 (key orderId, compacted): the
// whole order at its latest version. Version starts at 1 and increases with
// every change; PricedLines and Total are set once the order is
// CONFIRMED (Total = Σ LineTotal), Reason once it is REJECTED or CANCELLED.
type OrderState struct {
	OrderID         string         `json:"orderId"`
	Version         int64          `json:"version"`
	Status          string         `json:"status"`
	CustomerID      string         `json:"customerId"`
	ShippingAddress Address        `json:"shippingAddress"`
	Lines           []Line         `json:"lines"`
	Currency        string         `json:"currency"`
	PricedLines     []PricedLine   `json:"pricedLines,omitempty"`
	Total           *Money         `json:"total,omitempty"`
	Reason          string         `json:"reason,omitempty"`
	RejectedLines   []RejectedLine `json:"rejectedLines,omitempty"`
	CreatedAt       time.Time      `json:"createdAt"`
	UpdatedAt       time.Time      `json:"updatedAt"`
}

// StatusOfEvent returns the order status an orders.events.v1 type leads to,
// and false for a type this version does not know (consumers skip those).
func StatusOfEvent(eventType string) (string, bool) {
	switch eventType {
	case TypeOrderPlaced:
		return StatusPending, true
	case TypeOrderConfirmed:
		return StatusConfirmed, true
	case TypeOrderRejected:
		return StatusRejected, true
	case TypeOrderCancelled:
		return StatusCancelled, true
	}
	return "", false
}
