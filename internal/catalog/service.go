// Package catalog is catalog-api: product and stock reads from a Redis
// projection with an in-process L1 cache in front, carts in Redis, the cart
// checkout through the shared order intake, and catalog admin writes to
// Kafka. The projector that keeps Redis in step with catalog.products.v1
// and inventory.stock.v1 runs in the same process. Its OpenAPI 3.1 document
// is openapi.json beside this file, served at /openapi.json.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gorilla/mux"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/auth"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/redisx"
)

// Service is the running catalog-api.
type Service struct {
	cfg      Config
	log      *slog.Logger
	rdb      *redis.Client
	producer *kgo.Client
	store    *Store
	reader   *reader
	carts    *cartStore
	intake   *intake.Intake
	proj     *projector
	records  Records
	m        *metrics
	hdr      headers

	// Auth verifies bearer tokens for the admin routes (scope catalog:admin)
	// and the checkout (the subject is the idempotency scope, as on
	// POST /api/v1/orders). With auth off (no JWKS configured) a nil Auth
	// lets everyone through; with auth on, a nil Auth refuses those routes.
	Auth     Authenticator
	verifier *auth.Verifier // the JWKS refresher behind Auth, when auth is on
}

// New builds catalog-api.
func New(ctx context.Context, env *app.Env, cfg Config) (*Service, error) {
	var verifier *auth.Verifier
	if cfg.Auth.Enabled() {
		v, err := auth.New(ctx, cfg.Auth, env.Logger)
		if err != nil {
			return nil, err
		}
		verifier = v
	}
	m := newMetrics(env.Metrics)
	rdb, err := redisx.NewClient(cfg.Redis)
	if err != nil {
		return nil, err
	}
	kmetrics := kprom.NewMetrics("orderpipe_catalog_kafka", kprom.Registerer(env.Metrics), kprom.Gatherer(env.Metrics))
	producer, err := kafka.NewProducer(cfg.Kafka, env.Logger, append(intake.ProducerOpts(cfg.Kafka, cfg.Intake), kgo.WithHooks(kmetrics))...)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	in, err := intake.New(cfg.Intake, intake.Deps{Kafka: cfg.Kafka, Redis: cfg.Redis, Producer: producer, RDB: rdb,
		Logger: env.Logger, Metrics: env.Metrics, Tracer: env.Tracer})
	if err != nil {
		producer.Close()
		_ = rdb.Close()
		return nil, err
	}
	store := NewStore(rdb, cfg.Redis.KeyPrefix)
	s := &Service{
		cfg: cfg, log: env.Logger, rdb: rdb, producer: producer, store: store, intake: in, m: m,
		reader:  newReader(store, cfg, m),
		carts:   &cartStore{rdb: rdb, prefix: cfg.Redis.KeyPrefix, ttl: cfg.CartTTL},
		records: NewRecords(cfg.Kafka.TopicPrefix),
		hdr:     newHeaders(cfg.MaxAge),
	}
	if verifier != nil {
		s.Auth, s.verifier = verifier, verifier
	}
	if cfg.Projector {
		if s.proj, err = newProjector(cfg.Kafka, cfg.Group, store, producer, m, env.Metrics, env.Logger); err != nil {
			producer.Close()
			_ = rdb.Close()
			return nil, err
		}
	}
	// No readiness check on Redis or Kafka: reads are served from L1 while
	// Redis is down (a not-ready pod would get no traffic at all), and only
	// admin writes and checkouts need Kafka; they answer 503 on their own.
	return s, nil
}

// Routes mounts the catalog routes and the OpenAPI document.
func (s *Service) Routes(r *mux.Router) {
	// The hot reads first: gorilla/mux tries routes in order.
	r.HandleFunc("/api/v1/products/{id}", s.getProduct).Methods("GET", "HEAD")
	r.HandleFunc("/api/v1/products", s.listProducts).Methods("GET", "HEAD")
	r.HandleFunc("/api/v1/carts", s.createCart).Methods("POST")
	r.HandleFunc("/api/v1/carts/{id}", s.getCart).Methods("GET")
	r.HandleFunc("/api/v1/carts/{id}/items", s.putCartItem).Methods("PUT")
	r.HandleFunc("/api/v1/carts/{id}/items/{productId}", s.deleteCartItem).Methods("DELETE")
	r.HandleFunc("/api/v1/carts/{id}/checkout", s.checkout).Methods("POST")
	admin := r.PathPrefix("/api/v1/admin").Subrouter()
	admin.Use(s.adminAuth)
	admin.HandleFunc("/products/{id}", s.putProduct).Methods("PUT")
	admin.HandleFunc("/inventory/{productId}/adjust", s.adjustStock).Methods("POST")
	r.HandleFunc("/openapi.json", serveOpenAPI).Methods("GET", "HEAD")
}

// Run runs the projector and the invalidation subscriber until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.subscribe(gctx) })
	if s.verifier != nil {
		g.Go(func() error { s.verifier.Run(gctx); return nil })
	}
	if s.proj != nil {
		g.Go(func() error {
			if err := s.proj.run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("catalog projector: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// subscribe drops L1 entries on invalidation messages. A (re)subscription
// after the first purges L1: messages sent while disconnected are lost.
func (s *Service) subscribe(ctx context.Context) error {
	ps := s.rdb.Subscribe(ctx, s.store.Channel())
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	defer func() { _ = ps.Close() }()
	subscribed := false
	backoff := 50 * time.Millisecond
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.log.Debug("catalog: invalidation channel", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if subscribed {
					s.m.resubscribe.Inc()
					s.reader.purge()
				}
				subscribed = true
			}
		case *redis.Message:
			s.reader.invalidate(m.Payload)
		}
	}
}

// Close releases the clients once HTTP has drained and Run has returned.
func (s *Service) Close(ctx context.Context) error {
	if s.proj != nil {
		s.proj.close()
	}
	err := s.intake.Close(ctx)
	if ferr := s.producer.Flush(ctx); ferr != nil {
		err = errors.Join(err, fmt.Errorf("flush: %w", ferr))
	}
	s.producer.Close()
	return errors.Join(err, s.rdb.Close())
}
