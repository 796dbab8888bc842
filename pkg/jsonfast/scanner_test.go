package jsonfast

import (
	"testing"
	"time"
)

func TestPlainString(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{`"abc"`, "abc", true},
		{` 	"" `, "", true},
		{`"ünï ✓"`, "ünï ✓", true},
		{`"a\"b"`, "", false},   // escape
		{"\"a\tb\"", "", false}, // control character
		{"\"\xff\"", "", false}, // invalid UTF-8
		{"\"\xed\xa0\x80\"", "", false},
		{`"abc`, "", false},
		{`abc"`, "", false},
		{``, "", false},
	} {
		s := NewScanner([]byte(c.in))
		got, ok := s.PlainString()
		if ok != c.ok || (ok && string(got) != c.want) {
			t.Errorf("PlainString(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestInt(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{`0`, 0, true}, {`-0`, 0, true}, {` 42 `, 42, true}, {`-17`, -17, true},
		{`999999999999999999`, 999999999999999999, true},
		{`9223372036854775807`, 9223372036854775807, true},
		{`-9223372036854775808`, -9223372036854775808, true},
		{`9223372036854775808`, 0, false}, {`99999999999999999999`, 0, false},
		{`01`, 0, false}, {`-`, 0, false}, {`1.0`, 0, false}, {`1e3`, 0, false}, {`1E3`, 0, false},
		{`+1`, 0, false}, {`"1"`, 0, false}, {``, 0, false}, {`null`, 0, false},
	} {
		s := NewScanner([]byte(c.in))
		got, ok := s.Int()
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("Int(%s) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestTime(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{`"2026-11-27T09:00:00Z"`, time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), true},
		{`"2026-11-27T09:00:00.120Z"`, time.Date(2026, 11, 27, 9, 0, 0, 120000000, time.UTC), true},
		{`"2026-11-27T10:00:00+01:00"`, time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), true},
		{`"2026-13-01T00:00:00Z"`, time.Time{}, false},
		{`"2026-11-27 09:00:00Z"`, time.Time{}, false},
		{`"2026-11-27T09:00:00\u005a"`, time.Time{}, false},
		{`null`, time.Time{}, false},
	} {
		s := NewScanner([]byte(c.in))
		got, ok := s.Time()
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("Time(%s) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestLiteralConsumeEnd(t *testing.T) {
	s := NewScanner([]byte(" null , true\n"))
	if !s.Literal("null") || s.Literal("true") || !s.Consume(',') || s.Consume(',') || !s.Literal("true") || !s.End() {
		t.Error("null , true: not read as such")
	}
	s = NewScanner([]byte("nul"))
	if s.Literal("null") || s.End() {
		t.Error("nul: read as null, or as the end")
	}
}

func TestObjectAndArray(t *testing.T) {
	s := NewScanner([]byte(` { "a" : [ 1 , 2 ] , "b" : [ ] , "c" : { } } `))
	var keys string
	var sum int64
	ok := s.Object(func(key []byte) bool {
		keys += string(key)
		if key[0] == 'c' {
			return s.Object(func([]byte) bool { return false })
		}
		return s.Array(func() bool {
			n, ok := s.Int()
			sum += n
			return ok
		})
	})
	if !ok || !s.End() || keys != "abc" || sum != 3 {
		t.Errorf("read %v, keys %q, sum %d", ok, keys, sum)
	}
	for _, in := range []string{`{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":1`, `[1,]`, `[1 2]`, `[`} {
		s := NewScanner([]byte(in))
		skip := func() bool { return s.Skip() }
		if s.Object(func([]byte) bool { return skip() }) || s.Array(skip) {
			t.Errorf("%s: read", in)
		}
	}
}

func TestRefuseDuplicates(t *testing.T) {
	many := `{"a0":0,"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"b0":0,"b1":1,"b2":2,"b3":3,"b4":4,"b5":5`
	for _, c := range []struct {
		in     string
		strict bool // accepted under RefuseDuplicates
	}{
		{`{"a":1,"b":{"a":2}}`, true},
		{`{"a":1,"a":2}`, false},
		{`{"key":1,"KEY":2}`, false},
		{`{"x":{"k":1,"K":2}}`, false},
		{`[{"k":1},{"k":1}]`, true},
		{`[{"k":1,"k":1}]`, false},
		{many + `}`, true},
		{many + `,"c":1}`, false},
	} {
		s := NewScanner([]byte(c.in))
		if !s.Skip() || !s.End() {
			t.Errorf("%s: not skipped", c.in)
		}
		s = NewScanner([]byte(c.in))
		s.RefuseDuplicates()
		if got := s.Skip() && s.End(); got != c.strict {
			t.Errorf("%s: skipped %v under RefuseDuplicates, want %v", c.in, got, c.strict)
		}
	}
}

func TestSkip(t *testing.T) {
	deep := func(n int) string {
		b := make([]byte, 0, 2*n)
		for range n {
			b = append(b, '[')
		}
		for range n {
			b = append(b, ']')
		}
		return string(b)
	}
	for _, c := range []struct {
		in string
		ok bool
	}{
		{`{"x":{"a":[1,2.5e-3,-0.1E+7,"\u00e9\n\/",true,false,null]}}`, true},
		{`"\ud800"`, true}, {`0`, true}, {`-0.0e0`, true}, {deep(MaxDepth + 1), true},
		{deep(MaxDepth + 2), false}, {`01`, false}, {`1.`, false}, {`.5`, false}, {`1e`, false}, {`-`, false},
		{`"\x"`, false}, {`"\u12g4"`, false}, {`"\u12"`, false}, {"\"\xff\"", false}, {"\"\x01\"", false},
		{`tru`, false}, {`nul`, false}, {`{"a"}`, false}, {``, false},
	} {
		s := NewScanner([]byte(c.in))
		if got := s.Skip() && s.End(); got != c.ok {
			t.Errorf("Skip(%.40s) = %v, want %v", c.in, got, c.ok)
		}
	}
}

func TestDecode(t *testing.T) {
	fast := func(data []byte) (int64, bool) {
		s := NewScanner(data)
		n, ok := s.Int()
		return n + 1, ok && n >= 0 && s.End() // +1 tells the paths apart; negatives fall back
	}
	for _, c := range []struct {
		in   string
		want int64
		err  bool
	}{{`41`, 42, false}, {`-3`, -3, false}, {`"x"`, 0, true}} {
		got, err := Decode([]byte(c.in), fast)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("Decode(%s) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestNextKey(t *testing.T) {
	for _, c := range []struct {
		in   string
		keys string
		ok   bool
	}{
		{`{}`, "", true}, {` { "a" : 1 , "b" : 2 } `, "ab", true}, {`{"a":1,"b":2,"c":3}`, "abc", true},
		{`{"a":1,}`, "a", false}, {`{"a":1 "b":2}`, "a", false}, {`{"a" 1}`, "", false}, {`{,"a":1}`, "", false},
		{`["a"]`, "", false}, {`{"a":1`, "a", false}, {`{"a\n":1}`, "", false},
	} {
		s := NewScanner([]byte(c.in))
		var keys string
		ok := func() bool {
			for first := true; ; first = false {
				key, more, ok := s.NextKey(first)
				if !ok || !more {
					return ok
				}
				keys += string(key)
				if _, ok := s.Int(); !ok {
					return false
				}
			}
		}()
		if ok != c.ok || keys != c.keys || (ok && !s.End()) {
			t.Errorf("%s: keys %q, %v; want %q, %v", c.in, keys, ok, c.keys, c.ok)
		}
	}
}
