package chaos

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

// Product is a catalog entry with its initial stock, as the harness seeded it.
type Product struct {
	ID      string
	Price   int64 // minor units of Currency
	Initial int64
}

// Currency is the currency of every seeded product and every order.
const Currency = "USD"

// Order is one idempotency key as the clients sent it and what they were
// answered: the client's own ledger, written by the client only.
type Order struct {
	Scope, Key string
	OrderID    string // derived from (Scope, Key): what every 2xx must answer
	Lines      []schemas.Line
	Body       []byte

	Sent       atomic.Bool  // at least one POST left the client
	Acked      atomic.Bool  // at least one 2xx with the right orderId
	CancelSent atomic.Bool  // a cancel was sent (answered or not)
	ChangedTo  atomic.Int32 // retries with another body: answers 422 (…Rejected) or 2xx (…Accepted, Redis did not know the key)
	ChangedAck atomic.Int32
	FirstSent  atomic.Int64 // unix nanos of the first send
	AckedAt    atomic.Int64 // unix nanos of the first 2xx
}

// Ledger is every key the clients used, and the catalog they ordered from.
type Ledger struct {
	Products []Product

	mu     sync.Mutex
	orders []*Order
}

// Add records a new key.
func (l *Ledger) Add(o *Order) {
	l.mu.Lock()
	l.orders = append(l.orders, o)
	l.mu.Unlock()
}

// Orders is every key so far.
func (l *Ledger) Orders() []*Order {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Order(nil), l.orders...)
}

func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
