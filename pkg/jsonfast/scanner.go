package jsonfast

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Scanner reads JSON values from a byte slice. Every method skips the
// whitespace before its token and reports false when the input is not the
// plain form it reads; after a false the position is unspecified, so the
// caller gives the whole document to encoding/json.
type Scanner struct {
	data   []byte
	pos    int
	unique bool
}

// NewScanner returns a Scanner at the start of data.
func NewScanner(data []byte) Scanner {
	return Scanner{data: data}
}

// RefuseDuplicates makes Object (and so Skip) report false for an object
// with two member names that are equal ignoring ASCII case, or with more
// than MaxMembers members: the documents a strict decoder refuses.
func (s *Scanner) RefuseDuplicates() {
	s.unique = true
}

// MaxMembers is the most members an object may have under
// RefuseDuplicates.
const MaxMembers = 16

// SkipSpace moves past JSON whitespace.
func (s *Scanner) SkipSpace() {
	i := s.pos
	for i < len(s.data) && isSpace(s.data[i]) {
		i++
	}
	s.pos = i
}

func isSpace(c byte) bool {
	return c <= ' ' && (c == ' ' || c == '\t' || c == '\n' || c == '\r')
}

// End reports whether only whitespace is left.
func (s *Scanner) End() bool {
	s.SkipSpace()
	return s.pos == len(s.data)
}

func (s *Scanner) peek() byte {
	s.SkipSpace()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// Consume moves past the byte c if it comes next.
func (s *Scanner) Consume(c byte) bool {
	if s.peek() == c {
		s.pos++
		return true
	}
	return false
}

// Literal moves past lit (true, false, null) if it comes next.
func (s *Scanner) Literal(lit string) bool {
	s.SkipSpace()
	if len(s.data)-s.pos >= len(lit) && string(s.data[s.pos:s.pos+len(lit)]) == lit {
		s.pos += len(lit)
		return true
	}
	return false
}

// PlainString reads a string without escapes or control characters that
// is valid UTF-8, and returns its contents: a sub-slice of the input, which
// is what encoding/json decodes it to.
func (s *Scanner) PlainString() ([]byte, bool) {
	if !s.Consume('"') {
		return nil, false
	}
	data, start, ascii := s.data, s.pos, true
	i := start // a local index: the loop is hot
	for {
		for i < len(data) && plainInString[data[i]] {
			i++
		}
		switch {
		case i == len(data):
			return nil, false
		case data[i] == '"':
			s.pos = i + 1
			str := data[start:i]
			return str, ascii || utf8.Valid(str)
		case data[i] < utf8.RuneSelf: // a backslash or a control character
			return nil, false
		}
		ascii = false
		i++
	}
}

// plainInString marks the ASCII bytes a string may hold as they are: not a
// control character, quote or backslash.
var plainInString = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Int reads a number in integer syntax (no fraction, no exponent) that
// fits an int64.
func (s *Scanner) Int() (int64, bool) {
	s.SkipSpace()
	data, i := s.data, s.pos
	neg := i < len(data) && data[i] == '-'
	if neg {
		i++
	}
	digits := i
	var n uint64
	for i < len(data) && data[i]-'0' <= 9 {
		n = n*10 + uint64(data[i]-'0')
		i++
	}
	count := i - digits
	if count == 0 || (count > 1 && data[digits] == '0') {
		return 0, false
	}
	if i < len(data) {
		switch data[i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	start := s.pos
	s.pos = i
	if count > 18 { // may not fit: let strconv say
		v, err := strconv.ParseInt(string(data[start:i]), 10, 64)
		return v, err == nil
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// Time reads a plain string as encoding/json decodes it into a time.Time
// (time.Time's UnmarshalJSON: RFC 3339).
func (s *Scanner) Time() (time.Time, bool) {
	s.SkipSpace()
	start := s.pos
	if _, ok := s.PlainString(); !ok {
		return time.Time{}, false
	}
	var t time.Time
	if t.UnmarshalJSON(s.data[start:s.pos]) != nil {
		return time.Time{}, false
	}
	return t, true
}

// NextKey reads an object up to the next member's value: with first set,
// the opening '{' and the first key, else the ',' after a value and the key
// after it (keys are read with PlainString). It reports more=false at the
// closing '}', and ok=false for anything else. A loop over the members
// without a callback, for the hottest paths:
//
//	for first := true; ; first = false {
//		key, more, ok := s.NextKey(first)
//		if !ok || !more {
//			return ok
//		}
//		// read the value of key
//	}
func (s *Scanner) NextKey(first bool) (key []byte, more, ok bool) {
	if first && !s.Consume('{') {
		return nil, false, false
	}
	if s.Consume('}') {
		return nil, false, true
	}
	if !first && !s.Consume(',') {
		return nil, false, false
	}
	key, ok = s.PlainString()
	if !ok || !s.Consume(':') {
		return nil, false, false
	}
	return key, true, true
}

// Object reads {"key": value, ...}, calling member for each key (read with
// PlainString) with the scanner at the value; member must consume the
// value and report whether it could.
func (s *Scanner) Object(member func(key []byte) bool) bool {
	var seen *memberNames
	if s.unique {
		seen = new(memberNames)
	}
	for first := true; ; first = false {
		key, more, ok := s.NextKey(first)
		if !ok || !more {
			return ok
		}
		if (seen != nil && !seen.add(key)) || !member(key) {
			return false
		}
	}
}

// memberNames are the names of an object's members so far, for
// RefuseDuplicates.
type memberNames struct {
	names [MaxMembers][]byte
	n     int
}

// add reports false if key repeats a name (ignoring case) or is one too
// many.
func (m *memberNames) add(key []byte) bool {
	if m.n == len(m.names) {
		return false
	}
	for _, k := range m.names[:m.n] {
		if len(k) == len(key) && equalFold(k, key) {
			return false
		}
	}
	m.names[m.n] = key
	m.n++
	return true
}

// equalFold compares a and b (of the same length) ignoring ASCII case, and
// then some: it may call names equal that differ in other ways, which only
// sends more documents to the slow path.
func equalFold(a, b []byte) bool {
	for i := range a {
		if a[i]|0x20 != b[i]|0x20 {
			return false
		}
	}
	return true
}

// Array reads [value, ...], calling elem with the scanner at each value;
// elem must consume it and report whether it could.
func (s *Scanner) Array(elem func() bool) bool {
	if !s.Consume('[') {
		return false
	}
	if s.Consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.Consume(']') {
			return true
		}
		if !s.Consume(',') {
			return false
		}
	}
}
