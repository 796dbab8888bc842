package intake

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/schemas"
)

// ErrNotFound is returned by Lookup when Redis knows nothing of the order.
var ErrNotFound = errors.New("intake: order not found")

// ErrNoRedis is returned by Lookup when the intake runs without Redis.
var ErrNoRedis = errors.New("intake: no Redis")

// ErrRedisUnavailable is returned by Lookup while Redis keeps failing (its
// circuit breaker is open): callers fall back without waiting for timeouts.
var ErrRedisUnavailable = errors.New("intake: Redis unavailable")

// Known is what Redis knows of an order: its projected view, or (before the
// projection has it) the intake's own acceptance record.
type Known struct {
	View  orderview.View
	Scope string // the idempotency scope, when the intake's record is still there
}

// Lookup reads the order status projection and the intake's idempotency
// record in one round trip. The projection wins; an accepted idempotency
// record gives status ACCEPTED; anything else is ErrNotFound.
func (in *Intake) Lookup(ctx context.Context, orderID string) (Known, error) {
	if in.redisRDB == nil {
		return Known{}, ErrNoRedis
	}
	if !in.redisCB.TryAcquirePermit() {
		return Known{}, fmt.Errorf("intake: lookup %s: %w", orderID, ErrRedisUnavailable)
	}
	pipe := in.redisRDB.Pipeline()
	viewCmd := pipe.Get(ctx, orderview.Key(in.prefix, orderID))
	idemCmd := pipe.Get(ctx, in.idem.key(orderID))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		in.redisCB.RecordFailure()
		in.m.redisErrors.Inc()
		return Known{}, fmt.Errorf("intake: lookup %s: %w", orderID, err)
	}
	in.redisCB.RecordSuccess()
	var k Known
	idem, idemErr := decodeRecord(idemCmd.Val())
	if idemErr == nil {
		k.Scope = idem.scope
	}
	if b, err := viewCmd.Bytes(); err == nil {
		v, err := orderview.Decode(b)
		if err != nil {
			return Known{}, err
		}
		k.View = v
		return k, nil
	}
	if idemErr != nil || !idem.accepted {
		return Known{}, ErrNotFound
	}
	k.View = orderview.View{OrderID: orderID, Status: schemas.StatusAccepted, CustomerID: idem.customerID, UpdatedAt: idem.acceptedAt}
	return k, nil
}
