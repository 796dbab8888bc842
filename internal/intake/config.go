package intake

import (
	"errors"
	"fmt"
	"time"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// Config holds the intake's settings (shared by the ingress and the cart
// checkout: both answer the same way).
type Config struct {
	DefaultCurrency string        // ISO 4217 code used when a request names none
	IdempotencyTTL  time.Duration // how long Redis remembers an accepted key (fast path only)
	InFlightTTL     time.Duration // how long a claimed, not yet acknowledged key blocks its duplicates
	ProduceTimeout  time.Duration // longest wait for Kafka's acknowledgement before 503
	MaxInFlight     int           // produces awaiting acknowledgement (bulkhead); beyond it 503
	BreakerDelay    time.Duration // how long the Kafka circuit breaker stays open before probing
	GlobalRPS       int           // accepted-request rate limit for this process; 0 = off
	ScopeRPS        int           // rate limit per idempotency scope (customer or subject); 0 = off
	Linger          time.Duration // producer linger: how long a batch waits for more records
	Compression     string        // producer batch compression: lz4, zstd, snappy or none
}

// Register binds the settings.
func (c *Config) Register(s *config.Set) {
	s.String(&c.DefaultCurrency, "ORDER_DEFAULT_CURRENCY", "order-default-currency", "USD", "ISO 4217 currency of an order that names none")
	s.Duration(&c.IdempotencyTTL, "IDEMPOTENCY_TTL", "idempotency-ttl", 24*time.Hour, "how long the Redis fast path remembers an accepted Idempotency-Key (the order-processor's window is longer)")
	s.Duration(&c.InFlightTTL, "IDEMPOTENCY_INFLIGHT_TTL", "idempotency-inflight-ttl", 10*time.Second, "how long a key whose produce is unacknowledged answers 409 to duplicates (released at once when the produce fails)")
	s.Duration(&c.ProduceTimeout, "PRODUCE_TIMEOUT", "produce-timeout", 3*time.Second, "longest wait for Kafka's acknowledgement of an order before answering 503")
	s.Int(&c.MaxInFlight, "PRODUCE_MAX_IN_FLIGHT", "produce-max-in-flight", 8192, "orders awaiting Kafka's acknowledgement at once; more are answered 503 at once")
	s.Duration(&c.BreakerDelay, "PRODUCE_BREAKER_DELAY", "produce-breaker-delay", 5*time.Second, "how long the Kafka circuit breaker answers 503 without trying after opening")
	s.Int(&c.GlobalRPS, "RATE_LIMIT_RPS", "rate-limit-rps", 0, "orders per second this process accepts before 429 (0 = no limit)")
	s.Duration(&c.Linger, "PRODUCE_LINGER", "produce-linger", 2*time.Millisecond, "how long the intake producer waits to fill a batch (latency vs broker load)")
	s.String(&c.Compression, "PRODUCE_COMPRESSION", "produce-compression", "lz4", "intake producer batch compression: lz4, zstd, snappy or none")
	s.Int(&c.ScopeRPS, "RATE_LIMIT_SCOPE_RPS", "rate-limit-scope-rps", 50, "orders per second per customer (or JWT subject) before 429 (0 = no limit)")
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if !IsCurrency(c.DefaultCurrency) {
		errs = append(errs, fmt.Errorf("ORDER_DEFAULT_CURRENCY %q: want an ISO 4217 code such as USD", c.DefaultCurrency))
	}
	if c.ProduceTimeout <= 0 {
		errs = append(errs, fmt.Errorf("PRODUCE_TIMEOUT must be positive, got %s", c.ProduceTimeout))
	}
	if c.InFlightTTL <= c.ProduceTimeout {
		errs = append(errs, fmt.Errorf("IDEMPOTENCY_INFLIGHT_TTL (%s) must be longer than PRODUCE_TIMEOUT (%s)", c.InFlightTTL, c.ProduceTimeout))
	}
	if c.IdempotencyTTL < time.Minute {
		errs = append(errs, fmt.Errorf("IDEMPOTENCY_TTL %s: want at least 1m", c.IdempotencyTTL))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("PRODUCE_MAX_IN_FLIGHT %d: want ≥ 1", c.MaxInFlight))
	}
	if c.BreakerDelay <= 0 {
		errs = append(errs, fmt.Errorf("PRODUCE_BREAKER_DELAY must be positive, got %s", c.BreakerDelay))
	}
	if c.Linger < 0 || c.Linger > time.Second {
		errs = append(errs, fmt.Errorf("PRODUCE_LINGER %s: want 0..1s", c.Linger))
	}
	if _, ok := codecs[c.Compression]; !ok {
		errs = append(errs, fmt.Errorf("PRODUCE_COMPRESSION %q: want lz4, zstd, snappy or none", c.Compression))
	}
	if c.GlobalRPS < 0 || c.ScopeRPS < 0 {
		errs = append(errs, errors.New("RATE_LIMIT_RPS and RATE_LIMIT_SCOPE_RPS must be ≥ 0"))
	}
	return errors.Join(errs...)
}

// Defaults returns the default settings (for tests and embedding).
func Defaults() Config {
	var c Config
	c.Register(config.NewSet("intake", func(string) (string, bool) { return "", false }))
	return c
}
