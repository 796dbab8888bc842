package intake

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// An order accepted in degraded mode (Redis down or its breaker open) has
// no idempotency record, so until the status projection has it, GET and
// cancel of its orderId would answer 404 — contradicting the 202 and
// Location it was given. The backfill writes those records once Redis
// answers again: SET NX with the long TTL, so it never overwrites a record a
// later attempt wrote. It is bounded (backfillCap records; beyond that the
// order is still safe in Kafka and the projection answers for it) and in
// memory (an ingress killed meanwhile loses its queue, with the same
// fallback).

const backfillCap = 1 << 16

type backfillItem struct {
	orderID string
	rec     record
}

type backfill struct {
	queue chan backfillItem
	start sync.Once
	close sync.Once
	stop  chan struct{}
	done  chan struct{}
}

func newBackfill() *backfill {
	return &backfill{queue: make(chan backfillItem, backfillCap), stop: make(chan struct{}), done: make(chan struct{})}
}

// enqueue records an order accepted without an idempotency record.
func (in *Intake) enqueueBackfill(orderID string, rec record) {
	if in.idem == nil {
		return
	}
	rec.accepted, rec.acceptedAt = true, time.Now()
	in.fill.start.Do(func() { go in.runBackfill() })
	select {
	case in.fill.queue <- backfillItem{orderID, rec}:
		in.m.backfill.WithLabelValues("queued").Inc()
	default:
		in.m.backfill.WithLabelValues("dropped").Inc()
	}
}

// runBackfill writes queued records, one at a time, waiting out Redis
// outages with the same breaker the fast path uses.
func (in *Intake) runBackfill() {
	defer close(in.fill.done)
	for {
		var it backfillItem
		select {
		case <-in.fill.stop:
			return
		case it = <-in.fill.queue:
		}
		for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
			if in.redisCB.TryAcquirePermit() {
				err := in.idem.acceptNX(it.orderID, it.rec)
				if err == nil {
					in.redisCB.RecordSuccess()
					in.m.backfill.WithLabelValues("written").Inc()
					break
				}
				in.redisCB.RecordFailure()
				in.m.redisErrors.Inc()
			}
			select {
			case <-in.fill.stop:
				return
			case <-time.After(wait):
			}
		}
	}
}

// closeBackfill stops the backfill; records still queued are dropped (the
// status projection answers for their orders).
func (in *Intake) closeBackfill(ctx context.Context) {
	in.fill.close.Do(func() { close(in.fill.stop) })
	started := true
	in.fill.start.Do(func() { started = false })
	if !started {
		return
	}
	select {
	case <-in.fill.done:
	case <-ctx.Done():
	}
}

// acceptNX writes an accepted record unless the key already has one.
func (s *idemStore) acceptNX(orderID string, rec record) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.rdb.SetArgs(ctx, s.key(orderID), rec.encode(), redis.SetArgs{Mode: "NX", TTL: s.ttl}).Err()
	if errors.Is(err, redis.Nil) { // NX: a record is already there
		return nil
	}
	return err
}
