package jsonfast

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/orderpipe/orderpipe/schemas"
)

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes encoding/json writes as they are: not a
// control character, quote, backslash, or one of the HTML-escaped <, > and &.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString appends s as a JSON string the way encoding/json writes it:
// <, > and & escaped as \u003c…, invalid UTF-8 as \ufffd, U+2028 and
// U+2029 escaped.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscape(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendEscape appends the escape of an ASCII byte that is not plain.
func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// AppendMoney appends m as encoding/json writes a schemas.Money.
func AppendMoney(b []byte, m schemas.Money) []byte {
	b = append(b, `{"amount":`...)
	b = strconv.AppendInt(b, m.Amount, 10)
	b = append(b, `,"currency":`...)
	b = AppendString(b, m.Currency)
	return append(b, '}')
}

// AppendTime appends t as time.Time's MarshalJSON writes it: RFC 3339 with
// as many nanosecond digits as needed, quoted. (MarshalJSON refuses years
// outside 0–9999; AppendTime writes them as time.Format does.)
func AppendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = AppendRFC3339Nano(b, t)
	return append(b, '"')
}
