// Package storetest is the contract every streams.Store implementation
// passes: the in-memory store, a store seen through the runtime's
// transactional view and restored from its changelog, and any on-disk store
// added later.
package storetest

import (
	"fmt"
	"sort"
	"testing"

	"github.com/orderpipe/orderpipe/streams"
)

// Subject is a store under test.
type Subject[V comparable] struct {
	// Open returns an empty store.
	Open func(t *testing.T) streams.Store[V]
	// Reopen, when set, closes s and returns the same store as a new owner
	// sees it (restored from wherever it persists). Everything written
	// before must be there.
	Reopen func(t *testing.T, s streams.Store[V]) streams.Store[V]
	// Value returns a distinct value for each i.
	Value func(i int) V
}

// Run runs the contract.
func Run[V comparable](t *testing.T, s Subject[V]) {
	t.Run("missing key", func(t *testing.T) {
		st := s.Open(t)
		if _, ok, err := st.Get("nope"); err != nil || ok {
			t.Fatalf("Get(missing) = ok %v, err %v", ok, err)
		}
		if st.Len() != 0 {
			t.Fatalf("Len = %d, want 0", st.Len())
		}
	})
	t.Run("set get overwrite", func(t *testing.T) {
		st := s.Open(t)
		mustSet(t, st, "k", s.Value(1))
		expect(t, st, "k", s.Value(1))
		mustSet(t, st, "k", s.Value(2))
		expect(t, st, "k", s.Value(2))
		if st.Len() != 1 {
			t.Fatalf("Len = %d, want 1", st.Len())
		}
	})
	t.Run("delete", func(t *testing.T) {
		st := s.Open(t)
		mustSet(t, st, "a", s.Value(1))
		mustSet(t, st, "b", s.Value(2))
		if err := st.Delete("a"); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete("never-there"); err != nil {
			t.Fatalf("deleting a missing key: %v", err)
		}
		if _, ok, _ := st.Get("a"); ok {
			t.Fatal("deleted key still there")
		}
		expect(t, st, "b", s.Value(2))
		if st.Len() != 1 {
			t.Fatalf("Len = %d, want 1", st.Len())
		}
	})
	t.Run("keys are opaque bytes", func(t *testing.T) {
		st := s.Open(t)
		keys := []string{"", "a\x00b", "a", "a\x00", "ünïcode", "a b"}
		for i, k := range keys {
			mustSet(t, st, k, s.Value(i))
		}
		for i, k := range keys {
			expect(t, st, k, s.Value(i))
		}
	})
	t.Run("range sees everything once", func(t *testing.T) {
		st := s.Open(t)
		want := map[string]V{}
		for i := 0; i < 500; i++ {
			k := fmt.Sprintf("key-%03d", i)
			want[k] = s.Value(i)
			mustSet(t, st, k, s.Value(i))
		}
		for i := 0; i < 500; i += 7 {
			k := fmt.Sprintf("key-%03d", i)
			delete(want, k)
			if err := st.Delete(k); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]V{}
		err := st.Range(func(k string, v V) bool {
			if _, dup := got[k]; dup {
				t.Errorf("Range visited %q twice", k)
			}
			got[k] = v
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if !equal(got, want) {
			t.Fatalf("Range saw %d entries, want %d (%v)", len(got), len(want), diff(got, want))
		}
		if st.Len() != len(want) {
			t.Fatalf("Len = %d, want %d", st.Len(), len(want))
		}
		n := 0
		if err := st.Range(func(string, V) bool { n++; return n < 10 }); err != nil {
			t.Fatal(err)
		}
		if n != 10 {
			t.Fatalf("Range went on after fn returned false: %d calls", n)
		}
	})
	if s.Reopen != nil {
		t.Run("survives reopen", func(t *testing.T) {
			st := s.Open(t)
			want := map[string]V{}
			for i := 0; i < 100; i++ {
				k := fmt.Sprintf("key-%03d", i)
				want[k] = s.Value(i)
				mustSet(t, st, k, s.Value(i))
			}
			mustSet(t, st, "key-001", s.Value(1001))
			want["key-001"] = s.Value(1001)
			if err := st.Delete("key-002"); err != nil {
				t.Fatal(err)
			}
			delete(want, "key-002")
			st = s.Reopen(t, st)
			got := map[string]V{}
			if err := st.Range(func(k string, v V) bool { got[k] = v; return true }); err != nil {
				t.Fatal(err)
			}
			if !equal(got, want) {
				t.Fatalf("after reopen: %v", diff(got, want))
			}
		})
	}
}

func mustSet[V any](t *testing.T, st streams.Store[V], k string, v V) {
	t.Helper()
	if err := st.Set(k, v); err != nil {
		t.Fatal(err)
	}
}

func expect[V comparable](t *testing.T, st streams.Store[V], k string, want V) {
	t.Helper()
	got, ok, err := st.Get(k)
	if err != nil || !ok || got != want {
		t.Fatalf("Get(%q) = %v, %v, %v; want %v", k, got, ok, err, want)
	}
}

func equal[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func diff[V comparable](got, want map[string]V) string {
	var out []string
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			out = append(out, fmt.Sprintf("%q: got %v want %v", k, g, v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%q: unexpected", k))
		}
	}
	sort.Strings(out)
	if len(out) > 5 {
		out = append(out[:5], "…")
	}
	return fmt.Sprint(out)
}
