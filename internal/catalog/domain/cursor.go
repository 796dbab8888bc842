package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"strconv"
)

// A listing cursor names the last product id of a page, bound to the query
// it came from, and is signed: a client cannot forge or edit one, and a
// cursor of one query used with another is refused.
//
//	token = base64url( 0x01 | filter hash (8 bytes) | last id | HMAC-SHA256(key, those bytes)[:12] )

const (
	cursorVersion  = 1
	cursorMACLen   = 12
	maxCursorToken = 512
)

// ErrBadCursor is returned for a cursor that was not issued for this query.
var ErrBadCursor = errors.New("invalid cursor")

// Cursors encodes and checks listing cursors with a secret key.
type Cursors struct{ key []byte }

// NewCursors returns a codec signing with key.
func NewCursors(key []byte) Cursors { return Cursors{key: append([]byte(nil), key...)} }

// Encode returns the cursor continuing a listing of filter after id.
func (c Cursors) Encode(filter uint64, after string) string {
	b := make([]byte, 0, 1+8+len(after)+cursorMACLen)
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, filter)
	b = append(b, after...)
	b = append(b, c.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode returns the id a cursor continues after, or ErrBadCursor.
func (c Cursors) Decode(filter uint64, token string) (string, error) {
	if len(token) > maxCursorToken {
		return "", ErrBadCursor
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) < 1+8+1+cursorMACLen || b[0] != cursorVersion {
		return "", ErrBadCursor
	}
	body, mac := b[:len(b)-cursorMACLen], b[len(b)-cursorMACLen:]
	if !hmac.Equal(mac, c.mac(body)) || binary.BigEndian.Uint64(body[1:9]) != filter {
		return "", ErrBadCursor
	}
	return string(body[9:]), nil
}

func (c Cursors) mac(b []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(b)
	return m.Sum(nil)[:cursorMACLen]
}

// Query is a validated listing query.
type Query struct {
	Terms       []string // search terms (lower-cased), all must match
	CategoryID  string   // "" = every category
	IsAvailable *bool    // nil = either
	After       string   // continue after this id ("" = from the start)
	PageSize    int
}

// Filter hashes the parts of a query a cursor is bound to (everything but
// the position and the page size, which may change between pages).
func (q Query) Filter() uint64 {
	h := fnv.New64a()
	for _, t := range q.Terms {
		h.Write([]byte(t))
		h.Write([]byte{0})
	}
	h.Write([]byte{1})
	h.Write([]byte(q.CategoryID))
	h.Write([]byte{1})
	if q.IsAvailable != nil {
		h.Write([]byte(strconv.FormatBool(*q.IsAvailable)))
	}
	return h.Sum64()
}
