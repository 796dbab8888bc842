// Package ingress is the HTTP front door for orders: it validates a request,
// writes it durably to orders.requests.v1 (through internal/intake) and only
// then answers 202. It serves every /api/v1/orders* route: POST through
// Kafka, GETs from the Redis status projection (internal/orderview) with the
// intake's idempotency record as fallback. Its OpenAPI 3.1 document is
// openapi.json beside this file, served at /openapi.json.
package ingress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/internal/orderstore"
	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/auth"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/redisx"
)

// DefaultAddr is the ingress's default listen address.
const DefaultAddr = ":8081"

// Config is the ingress's configuration.
type Config struct {
	Kafka        config.Kafka
	Redis        config.Redis
	Postgres     config.Postgres // the read-only pool behind GET /api/v1/orders?customerId= and the GET fallback
	Intake       intake.Config
	Auth         auth.Config
	ClientLimit  ClientLimit
	MaxBodyBytes int
	MaxWait      time.Duration

	// Store is the PostgreSQL read model (internal/orderstore) behind
	// GET /api/v1/orders?customerId=… and the fallback of GET
	// /api/v1/orders/{id} when Redis does not know the order. Not a setting:
	// nil means a read-only pool on Postgres (connected lazily).
	Store OrderStore
}

// Register binds the settings.
func (c *Config) Register(s *config.Set) {
	c.Kafka.Register(s)
	c.Redis.Register(s)
	c.Postgres.Register(s)
	c.Intake.Register(s)
	c.ClientLimit.Register(s)
	s.Int(&c.MaxBodyBytes, "HTTP_MAX_BODY_BYTES", "http-max-body-bytes", 64<<10, "largest accepted request body in bytes (413 beyond)")
	s.Duration(&c.MaxWait, "ORDER_MAX_WAIT", "order-max-wait", 30*time.Second, "longest wait a `Prefer: wait=N` request may ask for (keep below HTTP_WRITE_TIMEOUT)")
	c.Auth.Register(s)
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("HTTP_MAX_BODY_BYTES %d: want at least 1024", c.MaxBodyBytes))
	}
	if c.MaxWait < 0 {
		errs = append(errs, fmt.Errorf("ORDER_MAX_WAIT %s: want ≥ 0", c.MaxWait))
	}
	return errors.Join(c.Kafka.Validate(), c.Redis.Validate(), c.Postgres.Validate(), c.Intake.Validate(), c.Auth.Validate(), c.ClientLimit.Validate(), errors.Join(errs...))
}

// Service is the running ingress.
type Service struct {
	cfg      Config
	producer *kgo.Client
	rdb      *redis.Client
	intake   *intake.Intake
	auth     *auth.Verifier
	waiter   Waiter
	clients  *clientLimiter // nil: no per-client-IP limit

	closePool func()
}

// New builds the ingress.
func New(ctx context.Context, env *app.Env, cfg Config) (*Service, error) {
	kmetrics := kprom.NewMetrics("orderpipe_ingress_kafka", kprom.Registerer(env.Metrics), kprom.Gatherer(env.Metrics))
	opts := append(intake.ProducerOpts(cfg.Kafka, cfg.Intake), kgo.WithHooks(kmetrics))
	producer, err := kafka.NewProducer(cfg.Kafka, env.Logger, opts...)
	if err != nil {
		return nil, err
	}
	rdb, err := redisx.NewClient(cfg.Redis)
	if err != nil {
		producer.Close()
		return nil, err
	}
	closePool := func() {}
	in, err := intake.New(cfg.Intake, intake.Deps{Kafka: cfg.Kafka, Redis: cfg.Redis, Producer: producer, RDB: rdb,
		Logger: env.Logger, Metrics: env.Metrics, Tracer: env.Tracer})
	if err != nil {
		producer.Close()
		_ = rdb.Close()
		return nil, err
	}
	if cfg.Store == nil {
		pool, err := orderstore.NewReadOnlyPool(ctx, cfg.Postgres)
		if err != nil {
			producer.Close()
			_ = rdb.Close()
			return nil, err
		}
		cfg.Store = orderstore.NewReader(pool)
		closePool = pool.Close
	}
	s := &Service{cfg: cfg, producer: producer, rdb: rdb, intake: in, closePool: closePool}
	s.waiter = &projectionWaiter{intake: in, poll: 50 * time.Millisecond}
	if s.clients, err = newClientLimiter(cfg.ClientLimit, env.Metrics); err != nil {
		producer.Close()
		_ = rdb.Close()
		return nil, err
	}
	if cfg.Auth.Enabled() {
		if s.auth, err = auth.New(ctx, cfg.Auth, env.Logger); err != nil {
			producer.Close()
			_ = rdb.Close()
			return nil, err
		}
	}
	// Kafka is what a 202 depends on; Redis is only the fast path (the
	// ingress accepts without it), so it is not a readiness check.
	env.Health.Add("kafka", kafka.Check(producer))
	return s, nil
}

// Routes mounts the order routes and the OpenAPI document.
func (s *Service) Routes(r *mux.Router) {
	r.HandleFunc("/openapi.json", serveOpenAPI).Methods("GET")
	var verifier auth.Authenticator
	if s.auth != nil {
		verifier = s.auth
	}
	// The per-client-IP limit runs first: an abusive client costs no token
	// check, body read, Redis or Kafka call.
	guard := func(h http.HandlerFunc) http.Handler { return s.clients.wrap(auth.Require(verifier, h)) }
	r.Handle("/api/v1/orders", guard(s.postOrder)).Methods("POST")
	r.Handle("/api/v1/orders", guard(s.listOrders)).Methods("GET")
	r.Handle("/api/v1/orders/{id}", guard(s.getOrder)).Methods("GET")
	r.Handle("/api/v1/orders/{id}/cancel", guard(s.cancelOrder)).Methods("POST")
}

// Run re-reads the JWKS (when auth is on) until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	if s.auth != nil {
		s.auth.Run(ctx)
		return nil
	}
	<-ctx.Done()
	return nil
}

// Close runs once HTTP has drained: it settles late produce results, flushes
// what is still buffered and closes the clients.
func (s *Service) Close(ctx context.Context) error {
	err := s.intake.Close(ctx)
	if ferr := s.producer.Flush(ctx); ferr != nil {
		err = errors.Join(err, fmt.Errorf("flush: %w", ferr))
	}
	s.producer.Close()
	s.closePool()
	return errors.Join(err, s.rdb.Close())
}
