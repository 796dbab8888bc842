package jsonfast

import "unicode/utf8"

// MaxDepth is the deepest nesting of objects and arrays Skip reads.
const MaxDepth = 32

// Skip moves past any valid JSON value nested at most MaxDepth deep
// (strings in it may have escapes, but must be valid UTF-8).
func (s *Scanner) Skip() bool {
	return s.skip(0)
}

func (s *Scanner) skip(depth int) bool {
	if depth > MaxDepth {
		return false
	}
	switch s.peek() {
	case '{':
		return s.Object(func([]byte) bool { return s.skip(depth + 1) })
	case '[':
		return s.Array(func() bool { return s.skip(depth + 1) })
	case '"':
		return s.skipString()
	case 't':
		return s.Literal("true")
	case 'f':
		return s.Literal("false")
	case 'n':
		return s.Literal("null")
	default:
		return s.number()
	}
}

func (s *Scanner) skipString() bool {
	s.pos++ // opening quote
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			ok := utf8.Valid(s.data[start:s.pos])
			s.pos++
			return ok
		case c < 0x20:
			return false
		case c == '\\':
			if !s.skipEscape() {
				return false
			}
			continue
		}
		s.pos++
	}
	return false
}

// skipEscape moves past the escape sequence at s.pos.
func (s *Scanner) skipEscape() bool {
	if s.pos+1 >= len(s.data) {
		return false
	}
	switch s.data[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return true
	case 'u':
		if s.pos+6 > len(s.data) {
			return false
		}
		for _, h := range s.data[s.pos+2 : s.pos+6] {
			if !isHex(h) {
				return false
			}
		}
		s.pos += 6
		return true
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number moves past a JSON number (RFC 8259 grammar).
func (s *Scanner) number() bool {
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	if s.pos < len(s.data) && s.data[s.pos] == '0' {
		s.pos++
	} else if s.digits() == 0 {
		return false
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return false
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *Scanner) digits() int {
	n := 0
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}
