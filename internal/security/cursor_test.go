package security

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderpipe/orderpipe/schemas"
)

// TestCursorTampering: a listing cursor is bound to the customer it was
// issued for. Another customer's cursor, a cut or flipped one, and garbage
// are 400 problems; even a cursor forged for another customer by someone
// who knows the format (it is open source) pages that customer's list
// only — it never returns anybody else's orders. Catalog cursors are
// HMAC-signed: tampering is a 400.
func TestCursorTampering(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := s.db(ctx)
	base := time.Now().UTC().Truncate(time.Millisecond)
	mine := map[string]map[string]bool{"alice": {}, "bob": {}}
	for i := range 6 {
		cust := []string{"alice", "bob"}[i%2]
		id := schemas.OrderID(cust, fmt.Sprint(i))
		mine[cust][id] = true
		if _, err := pool.Exec(ctx, `INSERT INTO orders (order_id, customer_id, status, version, currency, shipping_address, created_at, updated_at)
			VALUES ($1, $2, 'PENDING', 1, 'USD', '{}', $3, $3)`, id, cust, base.Add(-time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	list := func(customer, cursor string) response {
		q := url.Values{"customerId": {customer}, "pageSize": {"1"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		return send(t, req{"GET", s.ingress + "/api/v1/orders?" + q.Encode(), nil, nil})
	}
	first := list("alice", "")
	cur, _ := first.Body["nextCursor"].(string)
	if first.Status != 200 || cur == "" {
		t.Fatalf("first page: %d %s", first.Status, first.Raw)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(cur)
	flipped := append([]byte(nil), raw...)
	flipped[5] ^= 0x01
	for name, c := range map[string]string{
		"alice's cursor on bob's list": cur,
		"a flipped bit":                base64.RawURLEncoding.EncodeToString(flipped),
		"cut short":                    cur[:len(cur)-2],
		"one byte longer":              cur + "A",
		"garbage":                      "%%%%",
		"padded base64":                base64.URLEncoding.EncodeToString(raw),
	} {
		customer := "alice"
		if name == "alice's cursor on bob's list" {
			customer = "bob"
		}
		checkProblem(t, name, list(customer, c), 400, "")
	}
	if r := list("alice", cur); r.Status != 200 {
		t.Fatalf("alice's own cursor: %d %s", r.Status, r.Raw)
	}
	// A cursor forged for bob (the format and its checksum are public):
	// the list is still bob's alone.
	forged := forgeCursor("bob", base.Add(time.Hour), uuid.Nil)
	for c := forged; ; {
		r := list("bob", c)
		if r.Status != 200 {
			t.Fatalf("forged cursor: %d %s", r.Status, r.Raw)
		}
		items, _ := r.Body["items"].([]any)
		for _, it := range items {
			id, _ := it.(map[string]any)["orderId"].(string)
			if !mine["bob"][id] {
				t.Fatalf("a forged cursor on bob's list returned order %s, which is not bob's", id)
			}
		}
		next, _ := r.Body["nextCursor"].(string)
		if next == "" {
			break
		}
		c = next
	}
	// Catalog listing cursors are signed.
	for name, c := range map[string]string{"garbage": "abc", "orders cursor": cur} {
		r := send(t, req{"GET", s.catalog + "/api/v1/products?cursor=" + url.QueryEscape(c), nil, nil})
		checkProblem(t, "catalog cursor, "+name, r, 400, "")
	}
}

// forgeCursor builds an orderstore cursor the way its (public) format says.
func forgeCursor(customer string, at time.Time, id uuid.UUID) string {
	b := []byte{1}
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixMicro()))
	b = append(b, id[:]...)
	h := sha256.New()
	h.Write([]byte("orderstore-cursor\x00"))
	h.Write([]byte(customer))
	h.Write([]byte{0})
	h.Write(b)
	return base64.RawURLEncoding.EncodeToString(append(b, h.Sum(nil)[:4]...))
}
