// Package ident is the one rule for identifiers that come from outside
// (customer, product, cart item ids): printable, unambiguous text that
// reads the same in a log line, a Redis key and a PostgreSQL row.
package ident

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Check returns "" when s is a usable identifier of at most maxRunes
// characters, else why not (a field error message). Refused: empty,
// too long, invalid UTF-8 (and U+FFFD, which is what a decoder makes of
// it), white space, control characters (NUL, …), format characters (bidi
// overrides such as U+202E, zero-width joiners and spaces, BOM) and
// unassigned or private-use code points.
func Check(s string, maxRunes int) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > maxRunes*utf8.UTFMax || utf8.RuneCountInString(s) > maxRunes:
		return fmt.Sprintf("must be at most %d characters", maxRunes)
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	}
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			return "must be valid UTF-8"
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return "must not contain spaces or control characters"
		case unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Co, r) || !unicode.IsPrint(r) && !unicode.IsGraphic(r):
			return "must not contain invisible, formatting or unassigned characters"
		}
	}
	return ""
}
