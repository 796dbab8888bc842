package catalog

import (
	"errors"
	"fmt"
	"time"

	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/pkg/auth"
	"github.com/orderpipe/orderpipe/pkg/config"
)

// DefaultAddr is catalog-api's default listen address.
const DefaultAddr = ":8082"

// Config is catalog-api's configuration.
type Config struct {
	Kafka  config.Kafka
	Redis  config.Redis
	Intake intake.Config // the cart checkout answers exactly as POST /api/v1/orders

	// Auth is bearer-token auth, the ingress's settings (pkg/auth): with a
	// JWKS configured, the admin routes need a verified token with the
	// catalog:admin scope and the checkout a verified token whose subject
	// becomes the idempotency scope.
	Auth auth.Config
	// AdminAuth is on when auth is (set by Validate); with no verifier
	// wired the guarded routes then fail closed (503).
	AdminAuth bool

	L1Size       int           // products in the L1 (listing pages: an eighth of it); 0 = no L1
	L1TTL        time.Duration // an L1 entry is served without asking Redis for this long
	L1StaleTTL   time.Duration // and kept this long to serve stale while Redis is down
	MaxAge       time.Duration // Cache-Control max-age of product and listing responses
	CursorSecret string        // HMAC key of listing cursors
	BreakerDelay time.Duration // how long the Redis circuit breaker stays open before probing
	CartTTL      time.Duration // a cart expires this long after its last change
	Projector    bool          // run the Redis projector in this process
	Group        string        // the projector's consumer group (under TOPIC_PREFIX)
}

// Register binds the settings.
func (c *Config) Register(s *config.Set) {
	c.Kafka.Register(s)
	c.Redis.Register(s)
	c.Intake.Register(s)
	c.Auth.Register(s)
	s.Int(&c.L1Size, "CATALOG_L1_SIZE", "catalog-l1-size", 100000, "products the in-process L1 cache holds (listing pages: an eighth of it); 0 turns L1 off")
	s.Duration(&c.L1TTL, "CATALOG_L1_TTL", "catalog-l1-ttl", 10*time.Second, "how long an L1 entry is served without asking Redis (invalidations drop entries sooner)")
	s.Duration(&c.L1StaleTTL, "CATALOG_L1_STALE_TTL", "catalog-l1-stale-ttl", 10*time.Minute, "how long L1 keeps an entry to serve it stale, with a Warning, while Redis is down")
	s.Duration(&c.MaxAge, "CATALOG_HTTP_MAX_AGE", "catalog-http-max-age", 5*time.Second, "Cache-Control max-age of product and listing responses")
	s.Secret(&c.CursorSecret, "CATALOG_CURSOR_SECRET", "catalog-cursor-secret", "HMAC key signing listing cursors; every replica needs the same (empty: a built-in key, cursors are then checked but forgeable)")
	s.Duration(&c.BreakerDelay, "CATALOG_REDIS_BREAKER_DELAY", "catalog-redis-breaker-delay", 2*time.Second, "how long the Redis circuit breaker stays open before letting a probe through")
	s.Duration(&c.CartTTL, "CATALOG_CART_TTL", "catalog-cart-ttl", 72*time.Hour, "a cart expires this long after its last change")
	s.Bool(&c.Projector, "CATALOG_PROJECTOR", "catalog-projector", true, "run the Redis projector of catalog.products.v1 and inventory.stock.v1 in this process")
	s.String(&c.Group, "CATALOG_PROJECTOR_GROUP", "catalog-projector-group", "catalog-projector", "consumer group of the catalog projector (prefixed with TOPIC_PREFIX)")
}

// defaultCursorKey signs cursors when no secret is configured.
const defaultCursorKey = "orderpipe-catalog-cursor-v1"

// Validate reports every problem at once.
func (c *Config) Validate() error {
	c.AdminAuth = c.AdminAuth || c.Auth.Enabled()
	errs := []error{c.Kafka.Validate(), c.Redis.Validate(), c.Intake.Validate(), c.Auth.Validate()}
	if c.L1Size < 0 {
		errs = append(errs, fmt.Errorf("CATALOG_L1_SIZE %d: want ≥ 0", c.L1Size))
	}
	if c.L1TTL <= 0 {
		errs = append(errs, fmt.Errorf("CATALOG_L1_TTL must be positive, got %s", c.L1TTL))
	}
	if c.L1StaleTTL < c.L1TTL {
		errs = append(errs, fmt.Errorf("CATALOG_L1_STALE_TTL (%s) must be at least CATALOG_L1_TTL (%s)", c.L1StaleTTL, c.L1TTL))
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("CATALOG_HTTP_MAX_AGE must not be negative, got %s", c.MaxAge))
	}
	if c.BreakerDelay <= 0 {
		errs = append(errs, fmt.Errorf("CATALOG_REDIS_BREAKER_DELAY must be positive, got %s", c.BreakerDelay))
	}
	if c.CartTTL < time.Minute {
		errs = append(errs, fmt.Errorf("CATALOG_CART_TTL %s: want at least 1m", c.CartTTL))
	}
	if c.Projector && c.Group == "" {
		errs = append(errs, errors.New("CATALOG_PROJECTOR_GROUP is empty"))
	}
	return errors.Join(errs...)
}

// DefaultConfig returns the defaults (for tests and embedding), with kc and rc.
func DefaultConfig(kc config.Kafka, rc config.Redis) Config {
	var c Config
	c.Register(config.NewSet("catalog", func(string) (string, bool) { return "", false }))
	c.Kafka, c.Redis = kc, rc
	return c
}
