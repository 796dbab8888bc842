package streams

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFlushAfterUndo: a key flushed earlier in the transaction and then
// changed by a unit that was undone is not written again; a later change is.
func TestFlushAfterUndo(t *testing.T) {
	def := NewStore("s", JSON[string](1))
	ts, err := def.open(0, "cl", func(error) {})
	if err != nil {
		t.Fatal(err)
	}
	v := ts.(*StoreView[string])
	var got []string
	produce := func(r *kgo.Record, _ func(*kgo.Record, error)) {
		got = append(got, string(r.Key)+"="+string(r.Value[1:]))
	}
	flush := func() []string {
		got = nil
		if _, err := v.flush(produce); err != nil {
			t.Fatal(err)
		}
		return got
	}
	v.Put("k", "a")
	v.endUnit(true)
	if f := flush(); len(f) != 1 || f[0] != `k="a"` {
		t.Fatalf("first flush %v", f)
	}
	v.Put("k", "b")
	v.Put("j", "x")
	v.endUnit(false) // undone
	if f := flush(); len(f) != 0 {
		t.Fatalf("flush after an undone unit wrote %v", f)
	}
	if got, _, _ := v.Get("k"); got != "a" {
		t.Fatalf("k = %q after undo, want a", got)
	}
	v.Put("k", "c")
	v.endUnit(true)
	v.Put("k", "d")
	v.endUnit(true)
	if f := flush(); len(f) != 1 || f[0] != `k="d"` {
		t.Fatalf("third flush %v, want only the latest k", f)
	}
	if err := v.commit(); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := v.backend.Get("k"); !ok || got != "d" {
		t.Fatalf("committed k = %q", got)
	}
	if _, ok, _ := v.backend.Get("j"); ok {
		t.Fatal("j came from an undone unit")
	}
}
