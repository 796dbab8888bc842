package orderstore

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestCursorRoundTripsAndIsBoundToItsCustomer(t *testing.T) {
	c := cursor{createdAt: time.Date(2026, 11, 27, 9, 0, 0, 123456000, time.UTC), orderID: uuid.New()}
	s := encodeCursor("alice", c)
	got, ok := decodeCursor("alice", s)
	if !ok || !got.createdAt.Equal(c.createdAt) || got.orderID != c.orderID {
		t.Fatalf("decode(encode(c)) = %+v, %v; want %+v", got, ok, c)
	}
	if _, ok := decodeCursor("bob", s); ok {
		t.Fatal("alice's cursor decoded for bob")
	}
}

// FuzzDecodeCursor: any string decodes without panicking, and whatever
// decodes re-encodes to the same string (nothing but our own cursors pass).
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor("alice", cursor{createdAt: time.Unix(1_800_000_000, 0), orderID: uuid.New()}))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := decodeCursor("alice", s)
		if ok && encodeCursor("alice", c) != s {
			t.Fatalf("%q decoded to %+v, which encodes differently", s, c)
		}
	})
}
