package orderstore

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/google/uuid"
)

// A cursor is opaque to clients: base64url of
// version(1) ‖ createdAt µs (8) ‖ orderId (16) ‖ check (4),
// where check binds it to the customer it was issued for, so a cursor
// that was cut, garbled or made for another customer's list is refused
// (400) instead of silently starting somewhere else.
const (
	cursorVersion = 1
	cursorLen     = 1 + 8 + 16 + 4
)

type cursor struct {
	createdAt time.Time
	orderID   uuid.UUID
}

func cursorCheck(customerID string, payload []byte) []byte {
	h := sha256.New()
	h.Write([]byte("orderstore-cursor\x00"))
	h.Write([]byte(customerID))
	h.Write([]byte{0})
	h.Write(payload)
	return h.Sum(nil)[:4]
}

func encodeCursor(customerID string, c cursor) string {
	b := make([]byte, 0, cursorLen)
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(c.createdAt.UnixMicro()))
	b = append(b, c.orderID[:]...)
	b = append(b, cursorCheck(customerID, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(customerID, s string) (cursor, bool) {
	if len(s) != base64.RawURLEncoding.EncodedLen(cursorLen) {
		return cursor{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen || b[0] != cursorVersion {
		return cursor{}, false
	}
	payload, check := b[:cursorLen-4], b[cursorLen-4:]
	want := cursorCheck(customerID, payload)
	if [4]byte(check) != [4]byte(want) {
		return cursor{}, false
	}
	var c cursor
	c.createdAt = time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	copy(c.orderID[:], b[9:25])
	return c, true
}
