package sink

import (
	"context"
	"errors"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
)

// retry runs fn until it succeeds, fails for a reason retrying cannot fix
// (fenced, data refused), or ctx ends. While it retries the sink counts as
// paused: PostgreSQL (or Kafka, for dead letters) is down and the sink
// waits for it with exponential backoff, consuming nothing.
func retry[R any](ctx context.Context, s *Sink, what string, fn func() (R, error)) (R, error) {
	policy := retrypolicy.NewBuilder[R]().
		HandleIf(func(_ R, err error) bool {
			var fenced *FencedError
			return err != nil && ctx.Err() == nil && !errors.As(err, &fenced) && !IsDataError(err)
		}).
		WithMaxRetries(-1).
		WithBackoff(s.cfg.MinBackoff, s.cfg.MaxBackoff).
		WithJitterFactor(0.2).
		OnRetryScheduled(func(e failsafe.ExecutionScheduledEvent[R]) {
			s.m.paused.Set(1)
			s.m.retries.Inc()
			s.log.Warn("paused: retrying", "what", what, "attempt", e.Attempts(), "in", e.Delay, "error", e.LastError())
		}).
		Build()
	defer s.m.paused.Set(0)
	return failsafe.With(policy).WithContext(ctx).Get(fn)
}
