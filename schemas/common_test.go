package schemas_test

import (
	"bytes"
	"testing"

	"github.com/google/uuid"

	"github.com/orderpipe/orderpipe/schemas"
)

func TestOrderIDIsDeterministicUUIDv5(t *testing.T) {
	a := schemas.OrderID("customer-1", "key-1")
	if a != schemas.OrderID("customer-1", "key-1") {
		t.Fatal("same scope and key must give the same order id")
	}
	u, err := uuid.Parse(a)
	if err != nil || u.Version() != 5 {
		t.Fatalf("order id %q is not a UUIDv5 (%v)", a, err)
	}
	if a == schemas.OrderID("customer-2", "key-1") || a == schemas.OrderID("customer-1", "key-2") {
		t.Fatal("different scope or key must give a different order id")
	}
}

func TestScopeAndKeyAreLengthPrefixed(t *testing.T) {
	// Naive concatenation would make these pairs collide.
	pairs := [][2]string{{"ab", "c"}, {"a", "bc"}, {"", "abc"}, {"abc", ""}}
	ids := map[string]bool{}
	keys := map[string]bool{}
	for _, p := range pairs {
		ids[schemas.OrderID(p[0], p[1])] = true
		keys[string(schemas.RequestKey(p[0], p[1]))] = true
	}
	if len(ids) != len(pairs) || len(keys) != len(pairs) {
		t.Fatalf("collisions: %d ids, %d keys for %d pairs", len(ids), len(keys), len(pairs))
	}
	if !bytes.Equal(schemas.RequestKey("a", "bc"), []byte{0, 0, 0, 1, 'a', 0, 0, 0, 2, 'b', 'c'}) {
		t.Errorf("RequestKey layout changed: %v", schemas.RequestKey("a", "bc"))
	}
}
