package streams

import (
	"errors"
	"fmt"
)

// Store is one task's committed key→value state, the part of a state store
// that can be swapped: the runtime reads through it and writes to it only
// when a transaction has committed. Changes made by a transaction in flight
// live in the runtime's own buffer (see StoreView) and never reach a Store
// if the transaction aborts. The in-memory Store is Memory; an on-disk one
// only has to pass storetest.Run.
//
// A Store is used by one goroutine at a time.
type Store[V any] interface {
	// Get returns the value for key and whether it exists.
	Get(key string) (V, bool, error)
	// Set stores v under key.
	Set(key string, v V) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(key string) error
	// Range calls fn for every entry, in no particular order, until fn
	// returns false.
	Range(fn func(key string, v V) bool) error
	// Len returns the number of entries.
	Len() int
	// Close releases the store's resources.
	Close() error
}

// StoreFactory opens the Store of one task: the store named name for
// partition.
type StoreFactory[V any] func(name string, partition int32) (Store[V], error)

// Memory is the factory of in-memory stores (a Go map per task).
func Memory[V any]() StoreFactory[V] {
	return func(string, int32) (Store[V], error) { return NewMemoryStore[V](), nil }
}

// MemoryStore is the in-memory Store.
type MemoryStore[V any] struct{ m map[string]V }

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore[V any]() *MemoryStore[V] { return &MemoryStore[V]{m: make(map[string]V)} }

// Get implements Store.
func (s *MemoryStore[V]) Get(key string) (V, bool, error) {
	v, ok := s.m[key]
	return v, ok, nil
}

// Set implements Store.
func (s *MemoryStore[V]) Set(key string, v V) error { s.m[key] = v; return nil }

// Delete implements Store.
func (s *MemoryStore[V]) Delete(key string) error { delete(s.m, key); return nil }

// Range implements Store.
func (s *MemoryStore[V]) Range(fn func(string, V) bool) error {
	for k, v := range s.m {
		if !fn(k, v) {
			return nil
		}
	}
	return nil
}

// Len implements Store.
func (s *MemoryStore[V]) Len() int { return len(s.m) }

// Close implements Store.
func (s *MemoryStore[V]) Close() error { s.m = nil; return nil }

// StoreError is a failure of a Store backend (not of the handler's logic).
// The runtime treats it as fatal for the transaction and the processor: the
// transaction aborts and Run returns the error, since retrying the record
// elsewhere would not help and sending it to a DLQ would lose it.
type StoreError struct {
	Store     string
	Partition int32
	Op        string
	Err       error
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("store %s partition %d: %s: %v", e.Store, e.Partition, e.Op, e.Err)
}

func (e *StoreError) Unwrap() error { return e.Err }

func isStoreError(err error) bool {
	var se *StoreError
	return errors.As(err, &se)
}

// Cloner is implemented by values that hold references (maps, slices,
// pointers). The runtime hands handlers a Clone of such values, so a
// handler mutating what it read cannot change committed state behind the
// transaction's back. Plain value structs need no Clone.
type Cloner[V any] interface {
	Clone() V
}

func cloneValue[V any](v V) V {
	if c, ok := any(v).(Cloner[V]); ok {
		return c.Clone()
	}
	return v
}
