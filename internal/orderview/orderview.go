// Package orderview is the Redis layout of the order status projection: the
// one contract between its single writer (the order-processor's projector,
// reading orders.state.v1) and its readers (the ingress's
// GET /api/v1/orders/{id}).
//
// Layout:
//
//	key   <REDIS_KEY_PREFIX>orderview:<orderId>      (Key)
//	value the JSON of View (camelCase), a plain Redis string; a view with a
//	      final status expires after the writer's final TTL (readers fall
//	      back to PostgreSQL, which keeps every order), others never do
//
// Writes go through Write, which keeps the stored value only if the new
// version is higher than the stored one (a Lua compare on View.Version), so a
// replayed or reordered orders.state.v1 record never moves an order back.
// Readers accept a value with fields they do not know.
package orderview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderpipe/orderpipe/schemas"
)

// Key is the Redis key of the order's view.
func Key(prefix, orderID string) string { return prefix + "orderview:" + orderID }

// Line is one order line; prices appear once the line is reserved and priced.
type Line struct {
	LineNo    int            `json:"lineNo,omitempty"`
	ProductID string         `json:"productId"`
	Quantity  int            `json:"quantity"`
	UnitPrice *schemas.Money `json:"unitPrice,omitempty"`
	LineTotal *schemas.Money `json:"lineTotal,omitempty"`
}

// View is the projected status of one order (the value at Key).
type View struct {
	OrderID    string         `json:"orderId"`
	Version    int64          `json:"version"`
	Status     string         `json:"status"` // schemas.Status*
	CustomerID string         `json:"customerId"`
	Currency   string         `json:"currency,omitempty"`
	Lines      []Line         `json:"lines,omitempty"`
	Total      *schemas.Money `json:"total,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	UpdatedAt  time.Time      `json:"updatedAt"`
}

// Final reports whether the status is an outcome (confirmed, rejected or cancelled).
func (v View) Final() bool {
	switch v.Status {
	case schemas.StatusConfirmed, schemas.StatusRejected, schemas.StatusCancelled:
		return true
	}
	return false
}

// FromState maps an orders.state.v1 value to its view.
func FromState(s schemas.OrderState) View {
	v := View{OrderID: s.OrderID, Version: s.Version, Status: s.Status, CustomerID: s.CustomerID,
		Currency: s.Currency, Total: s.Total, Reason: s.Reason, UpdatedAt: s.UpdatedAt}
	priced := make(map[int]schemas.PricedLine, len(s.PricedLines))
	for _, p := range s.PricedLines {
		priced[p.LineNo] = p
	}
	for i, l := range s.Lines {
		line := Line{LineNo: i + 1, ProductID: l.ProductID, Quantity: l.Quantity}
		if p, ok := priced[i+1]; ok {
			line.UnitPrice, line.LineTotal = &p.UnitPrice, &p.LineTotal
		}
		v.Lines = append(v.Lines, line)
	}
	return v
}

// ErrNotFound is returned by Read when the order has no view yet.
var ErrNotFound = errors.New("orderview: no view")

// writeScript stores ARGV[2] (the JSON) at KEYS[1] unless the stored view's
// version is ≥ ARGV[1], expiring after ARGV[3] ms when that is > 0 (and
// never otherwise). Returns 1 if written, 0 if the stored one is as new.
var writeScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and type(old) == 'table' and tonumber(old.version) and tonumber(old.version) >= tonumber(ARGV[1]) then
    return 0
  end
end
local ttl = tonumber(ARGV[3]) or 0
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
`)

// ttlMillis is the expiry a write of v gets: finalTTL once the order has
// an outcome (0: never), none before — an order in flight must stay
// readable however long it takes.
func ttlMillis(v View, finalTTL time.Duration) int64 {
	if !v.Final() || finalTTL <= 0 {
		return 0
	}
	return max(finalTTL.Milliseconds(), 1)
}

// Write stores v unless the stored view has the same or a higher version;
// a final view expires after finalTTL (0 keeps it). It reports whether v
// was written.
func Write(ctx context.Context, rdb redis.Scripter, prefix string, v View, finalTTL time.Duration) (bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return false, fmt.Errorf("orderview: encode %s: %w", v.OrderID, err)
	}
	n, err := writeScript.Run(ctx, rdb, []string{Key(prefix, v.OrderID)}, v.Version, b, ttlMillis(v, finalTTL)).Int()
	if err != nil {
		return false, fmt.Errorf("orderview: write %s: %w", v.OrderID, err)
	}
	return n == 1, nil
}

// Decode parses a stored value.
func Decode(b []byte) (View, error) {
	var v View
	if err := json.Unmarshal(b, &v); err != nil {
		return View{}, fmt.Errorf("orderview: decode: %w", err)
	}
	return v, nil
}

// Read returns the order's view, or ErrNotFound.
func Read(ctx context.Context, rdb redis.Cmdable, prefix, orderID string) (View, error) {
	b, err := rdb.Get(ctx, Key(prefix, orderID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return View{}, ErrNotFound
	}
	if err != nil {
		return View{}, fmt.Errorf("orderview: read %s: %w", orderID, err)
	}
	return Decode(b)
}
