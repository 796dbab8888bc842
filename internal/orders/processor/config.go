package processor

import (
	"errors"
	"fmt"
	"time"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// Config holds the saga's settings.
type Config struct {
	// Timeout is how long a placed order may wait for its reservations,
	// counted from when the saga placed it.
	Timeout time.Duration
	// Window is how long the saga remembers an idempotency key (and a
	// cancel for an order it has not seen). orders.requests.v1 keeps a
	// request at least this long (min.compaction.lag.ms).
	Window time.Duration
}

// Register binds the settings.
func (c *Config) Register(s *config.Set) {
	s.Duration(&c.Timeout, "ORDER_SAGA_TIMEOUT", "order-saga-timeout", 10*time.Minute,
		"how long a placed order waits for its reservations before it is rejected with reason timeout (from when the order-processor placed it)")
	s.Duration(&c.Window, "IDEMPOTENCY_WINDOW", "idempotency-window", 7*24*time.Hour,
		"how long an idempotency key is remembered: the order-processor's dedupe window, and min.compaction.lag.ms of orders.requests.v1")
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Timeout < time.Second {
		errs = append(errs, fmt.Errorf("ORDER_SAGA_TIMEOUT %s: want ≥ 1s", c.Timeout))
	}
	if c.Window < time.Minute {
		errs = append(errs, fmt.Errorf("IDEMPOTENCY_WINDOW %s: want ≥ 1m", c.Window))
	} else if c.Window <= c.Timeout {
		errs = append(errs, fmt.Errorf("IDEMPOTENCY_WINDOW %s must be longer than ORDER_SAGA_TIMEOUT %s", c.Window, c.Timeout))
	}
	return errors.Join(errs...)
}

// DefaultConfig returns the defaults Register sets (tests, embedding).
func DefaultConfig() Config {
	var c Config
	c.Register(config.NewSet("defaults", func(string) (string, bool) { return "", false }))
	return c
}

// timerEvery is how often pending sagas are checked for their deadline: a
// 60th of the timeout, between 100ms and 5s (each check reads every
// pending saga of the task).
func (c Config) timerEvery() time.Duration {
	return min(max(c.Timeout/60, 100*time.Millisecond), 5*time.Second)
}

// sweepEvery is how often the dedupe and held-cancel stores drop entries
// older than the window.
func (c Config) sweepEvery() time.Duration {
	return min(max(c.Window/100, time.Second), time.Minute)
}
