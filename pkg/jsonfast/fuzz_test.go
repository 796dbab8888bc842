package jsonfast

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

// FuzzScanner: whatever the Scanner reads, encoding/json reads the same
// way — a plain string, an integer, a time, and any document through a
// small decoder built from Object, Array, PlainString, Int and Literal; and
// what Skip passes over is valid JSON.
// Seeds: testdata/fuzz/FuzzScanner. Run: go test -run '^$' -fuzz FuzzScanner ./pkg/jsonfast/
func FuzzScanner(f *testing.F) {
	f.Add([]byte(`{"a":[1,-2,"x",true,false,null,{}],"b":{"c":[]}}`))
	f.Add([]byte(`"2026-11-27T09:00:00.5Z"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScanner(data)
		if str, ok := s.PlainString(); ok && s.End() {
			var want string
			if err := json.Unmarshal(data, &want); err != nil || want != string(str) {
				t.Fatalf("%q: PlainString %q, encoding/json %q (%v)", data, str, want, err)
			}
		}
		s = NewScanner(data)
		if n, ok := s.Int(); ok && s.End() {
			var want int64
			if err := json.Unmarshal(data, &want); err != nil || want != n {
				t.Fatalf("%q: Int %d, encoding/json %d (%v)", data, n, want, err)
			}
		}
		s = NewScanner(data)
		if tm, ok := s.Time(); ok && s.End() {
			var want time.Time
			if err := json.Unmarshal(data, &want); err != nil || !reflect.DeepEqual(tm, want) {
				t.Fatalf("%q: Time %v, encoding/json %v (%v)", data, tm, want, err)
			}
		}
		s = NewScanner(data)
		if s.Skip() && s.End() && !json.Valid(data) {
			t.Fatalf("%q: skipped, but not valid JSON", data)
		}
		s = NewScanner(data)
		s.RefuseDuplicates()
		if s.Skip() && s.End() {
			s = NewScanner(data)
			if !s.Skip() || !s.End() {
				t.Fatalf("%q: skipped only when refusing duplicates", data)
			}
		}
		s = NewScanner(data)
		if v, ok := decodeAny(&s, 0); ok && s.End() {
			d := json.NewDecoder(bytes.NewReader(data))
			d.UseNumber()
			var want any
			if err := d.Decode(&want); err != nil || !sameAny(v, want) {
				t.Fatalf("%q: scanner %#v, encoding/json %#v (%v)", data, v, want, err)
			}
		}
	})
}

// decodeAny decodes what the plain primitives can read into the types
// encoding/json decodes into an any (numbers as int64).
func decodeAny(s *Scanner, depth int) (any, bool) {
	if depth > MaxDepth {
		return nil, false
	}
	switch s.peek() {
	case '{':
		m := map[string]any{}
		return m, s.Object(func(key []byte) bool {
			v, ok := decodeAny(s, depth+1)
			m[string(key)] = v
			return ok
		})
	case '[':
		a := []any{}
		ok := s.Array(func() bool {
			v, ok := decodeAny(s, depth+1)
			a = append(a, v)
			return ok
		})
		return a, ok
	case '"':
		str, ok := s.PlainString()
		return string(str), ok
	case 't':
		return true, s.Literal("true")
	case 'f':
		return false, s.Literal("false")
	case 'n':
		return nil, s.Literal("null")
	}
	return s.Int()
}

func sameAny(got, want any) bool {
	switch w := want.(type) {
	case json.Number:
		n, err := w.Int64()
		return err == nil && got == n
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, wv := range w {
			if gv, ok := g[k]; !ok || !sameAny(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !sameAny(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return got == want
}

// FuzzAppend: the appenders write exactly what encoding/json (and
// time.Format) write.
// Seeds: testdata/fuzz/FuzzAppend. Run: go test -run '^$' -fuzz FuzzAppend ./pkg/jsonfast/
func FuzzAppend(f *testing.F) {
	f.Add("beans", int64(1795683600), int64(123456789), 0)
	f.Add("\xff<>&\u2028\"", int64(-1), int64(0), 3600)
	f.Fuzz(func(t *testing.T, s string, sec, nsec int64, offset int) {
		sameAsJSON(t, AppendString(nil, s), s)
		m := schemas.Money{Amount: sec, Currency: s}
		sameAsJSON(t, AppendMoney(nil, m), m)
		tm := time.Unix(sec, nsec).UTC()
		if offset%86400 != 0 {
			tm = tm.In(time.FixedZone("z", offset%86400))
		}
		if got, want := string(AppendRFC3339Nano(nil, tm)), tm.Format(time.RFC3339Nano); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
		var c TimeCache
		if got, want := string(c.AppendTime(c.AppendTime(nil, tm), tm)), string(AppendTime(AppendTime(nil, tm), tm)); got != want {
			t.Fatalf("%v: cached %s, want %s", tm, got, want)
		}
		sameAsJSON(t, AppendTime(nil, tm), tm)
	})
}
