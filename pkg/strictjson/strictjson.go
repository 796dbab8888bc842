// Package strictjson refuses the JSON that encoding/json would accept but
// read ambiguously: an object with the same member twice (encoding/json
// keeps the last, another parser the first — a request smuggling vector),
// including names that differ only in case (encoding/json matches field
// names case-insensitively), and documents nested deeper than MaxDepth.
package strictjson

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays Check accepts.
const MaxDepth = 32

// Error is why a document was refused.
type Error struct {
	Offset int    // byte offset of the offending member or value
	Key    string // the duplicated member name, "" for a depth error
	Depth  bool
}

func (e *Error) Error() string {
	if e.Depth {
		return fmt.Sprintf("JSON nested deeper than %d levels at byte %d", MaxDepth, e.Offset)
	}
	return fmt.Sprintf("duplicate JSON member %q at byte %d (member names must be unique, ignoring case)", e.Key, e.Offset)
}

// Check returns an *Error for a document with a duplicated member name or
// nested deeper than MaxDepth, else nil. Syntax errors are not its concern:
// it returns nil for a document that is not valid JSON (the decoder words
// those).
func Check(b []byte) error {
	if !json.Valid(b) {
		return nil
	}
	c := checker{b: b}
	return c.value(0)
}

type checker struct {
	b []byte
	i int
}

func (c *checker) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// value walks one value of a valid document.
func (c *checker) value(depth int) error {
	c.ws()
	switch c.b[c.i] {
	case '{':
		if depth >= MaxDepth {
			return &Error{Offset: c.i, Depth: true}
		}
		return c.object(depth + 1)
	case '[':
		if depth >= MaxDepth {
			return &Error{Offset: c.i, Depth: true}
		}
		c.i++
		c.ws()
		if c.b[c.i] == ']' {
			c.i++
			return nil
		}
		for {
			if err := c.value(depth + 1); err != nil {
				return err
			}
			c.ws()
			if c.b[c.i] == ']' {
				c.i++
				return nil
			}
			c.i++ // ','
		}
	case '"':
		c.str()
		return nil
	default: // number, true, false, null
		for c.i < len(c.b) && !strings.ContainsRune(",]} \t\n\r", rune(c.b[c.i])) {
			c.i++
		}
		return nil
	}
}

func (c *checker) object(depth int) error {
	c.i++ // '{'
	c.ws()
	if c.b[c.i] == '}' {
		c.i++
		return nil
	}
	var seen map[string]struct{}
	var few [8]string
	n := 0
	for {
		c.ws()
		at := c.i
		raw := c.str()
		name := fold(unquote(raw))
		dup := false
		if seen == nil {
			for _, k := range few[:n] {
				dup = dup || k == name
			}
			if n < len(few) {
				few[n] = name
				n++
			} else {
				seen = make(map[string]struct{}, 2*len(few))
				for _, k := range few {
					seen[k] = struct{}{}
				}
			}
		}
		if seen != nil {
			_, dup = seen[name]
			seen[name] = struct{}{}
		}
		if dup {
			return &Error{Offset: at, Key: unquote(raw)}
		}
		c.ws()
		c.i++ // ':'
		if err := c.value(depth); err != nil {
			return err
		}
		c.ws()
		if c.b[c.i] == '}' {
			c.i++
			return nil
		}
		c.i++ // ','
	}
}

// str consumes a string and returns it with its quotes.
func (c *checker) str() []byte {
	start := c.i
	c.i++
	for c.b[c.i] != '"' {
		if c.b[c.i] == '\\' {
			c.i++
		}
		c.i++
	}
	c.i++
	return c.b[start:c.i]
}

func unquote(raw []byte) string {
	if !strings.ContainsRune(string(raw), '\\') && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s) // valid: the document is
	return s
}

// fold maps names encoding/json would match to one field to one string.
func fold(s string) string { return strings.ToLower(strings.ToUpper(s)) }
