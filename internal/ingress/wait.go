package ingress

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/internal/orderview"
)

// Waiter waits for an order's outcome (RFC 7240 `Prefer: wait=N`).
type Waiter interface {
	// Wait returns the order's view and true once it is confirmed, rejected
	// or cancelled, or false when d passes first.
	Wait(ctx context.Context, orderID string, d time.Duration) (orderview.View, bool)
}

// projectionWaiter polls the Redis status projection.
type projectionWaiter struct {
	intake *intake.Intake
	poll   time.Duration
}

func (p *projectionWaiter) Wait(ctx context.Context, orderID string, d time.Duration) (orderview.View, bool) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(p.poll)
	defer t.Stop()
	for {
		if k, err := p.intake.Lookup(ctx, orderID); err == nil && k.View.Final() {
			return k.View, true
		}
		select {
		case <-ctx.Done():
			return orderview.View{}, false
		case <-t.C:
		}
	}
}

// preferWait parses `Prefer: wait=N` (seconds), capped at limit.
func preferWait(values []string, limit time.Duration) (time.Duration, bool) {
	for _, v := range values {
		for _, pref := range strings.Split(v, ",") {
			name, val, ok := strings.Cut(strings.TrimSpace(pref), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			if err != nil || n <= 0 {
				return 0, false
			}
			// Cap before multiplying: a huge N must not overflow into a
			// negative wait.
			return min(time.Duration(min(n, 1<<20))*time.Second, limit), limit > 0
		}
	}
	return 0, false
}
