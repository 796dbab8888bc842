package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/orderpipe/orderpipe/schemas"
)

// Event is one record of orders.events.v1 as the handler needs it.
type Event struct {
	ID, Type  string // ce_id, ce_type headers
	Key       string // orderId
	Value     []byte
	Partition int32
	Offset    int64
}

// Store is where a team keeps what it has applied. Apply must record the
// event id and the order's version in the same transaction as the team's own
// effect (a row, an outbox message), so a crash between them cannot apply an
// event twice. In SQL: INSERT INTO processed_events (event_id) … ON CONFLICT
// DO NOTHING, and skip when nothing was inserted.
type Store interface {
	// Apply runs effect unless eventID was applied already or the order
	// already has this version or a newer one; it reports whether effect ran.
	Apply(ctx context.Context, eventID, orderID string, version int64, effect func() error) (bool, error)
}

// Handler applies order events idempotently.
type Handler struct {
	store Store
	out   io.Writer
}

// NewHandler returns a handler writing what it does to out.
func NewHandler(store Store, out io.Writer) *Handler { return &Handler{store: store, out: out} }

// Handle applies one event. It returns an error only when the store fails
// (retry later); a record that cannot be decoded is reported and skipped
// (send it to your own dead-letter store).
func (h *Handler) Handle(ctx context.Context, e Event) error {
	status, known := schemas.StatusOfEvent(e.Type)
	if !known {
		fmt.Fprintf(h.out, "skip %s: unknown event type (newer than this consumer)\n", e.Type)
		return nil
	}
	var ev schemas.OrderEvent
	if err := json.Unmarshal(e.Value, &ev); err != nil || ev.OrderID != e.Key || ev.Version < 1 {
		fmt.Fprintf(h.out, "dead-letter partition %d offset %d: undecodable (%v)\n", e.Partition, e.Offset, err)
		return nil
	}
	ran, err := h.store.Apply(ctx, e.ID, ev.OrderID, ev.Version, func() error {
		switch status {
		case schemas.StatusPending:
			fmt.Fprintf(h.out, "order %s placed (v%d) by %s: %d lines\n", short(ev.OrderID), ev.Version, ev.CustomerID, len(ev.Lines))
		case schemas.StatusConfirmed:
			fmt.Fprintf(h.out, "order %s confirmed (v%d): total %d %s\n", short(ev.OrderID), ev.Version, ev.Total.Amount, ev.Total.Currency)
		case schemas.StatusRejected:
			fmt.Fprintf(h.out, "order %s rejected (v%d): %s\n", short(ev.OrderID), ev.Version, ev.Reason)
		case schemas.StatusCancelled:
			fmt.Fprintf(h.out, "order %s cancelled (v%d)\n", short(ev.OrderID), ev.Version)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !ran {
		fmt.Fprintf(h.out, "skip %s: already applied\n", e.ID)
	}
	return nil
}

func short(id string) string { return id[:8] }

// MemoryStore is a Store for the example; use your database in production.
type MemoryStore struct {
	mu       sync.Mutex
	applied  map[string]bool
	versions map[string]int64
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{applied: map[string]bool{}, versions: map[string]int64{}}
}

// Apply implements Store.
func (s *MemoryStore) Apply(_ context.Context, eventID, orderID string, version int64, effect func() error) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.applied[eventID] || s.versions[orderID] >= version {
		return false, nil
	}
	if err := effect(); err != nil {
		return false, err
	}
	s.applied[eventID] = true
	s.versions[orderID] = version
	return true, nil
}
