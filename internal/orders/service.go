// Package orders is the order-processor: the order saga with exactly-once
// Kafka transactions (orders/saga, run by orders/processor on the streams
// runtime), the exactly-once
// PostgreSQL sink (orders/sink) and the Redis order status projection
// (orders/projector). Each runs as a component of one errgroup: Run starts
// them all, the first that fails stops the others, Close releases the
// shared clients.
//
// PostgreSQL and Redis are projections: when one is down its component
// pauses and retries (orderpipe_order_sink_paused,
// orderpipe_order_projector_paused) while everything else keeps going, so
// neither is a readiness check; Kafka is, and so is every component still
// running.
package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/internal/orders/projector"
	"github.com/orderpipe/orderpipe/internal/orders/sink"
	"github.com/orderpipe/orderpipe/internal/orderstore"
	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/pg"
	"github.com/orderpipe/orderpipe/pkg/redisx"
)

// DefaultAddr is order-processor's default listen address (probes, metrics).
const DefaultAddr = ":8083"

// Config is order-processor's configuration.
type Config struct {
	Kafka    config.Kafka
	Postgres config.Postgres
	Redis    config.Redis
	// SinkBatch is the most records the sink takes per poll.
	SinkBatch int
	// SinkLanes is how many PostgreSQL transactions write a poll in parallel.
	SinkLanes int
	// ViewFinalTTL is how long an order's status view stays in Redis once
	// the order has an outcome (0: for ever).
	ViewFinalTTL time.Duration
	// Saga is the order saga's settings (saga.go).
	Saga SagaConfig
}

// Register binds the settings.
func (c *Config) Register(s *config.Set) {
	c.Kafka.Register(s)
	c.Postgres.Register(s)
	c.Redis.Register(s)
	s.Int(&c.SinkBatch, "ORDER_SINK_BATCH_RECORDS", "order-sink-batch-records", 8192, "most Kafka records the PostgreSQL sink takes per poll")
	s.Int(&c.SinkLanes, "ORDER_SINK_LANES", "order-sink-lanes", 4, "PostgreSQL transactions that write one poll of the sink in parallel (partition mod lanes); keep ≤ DATABASE_MAX_CONNS")
	s.Duration(&c.ViewFinalTTL, "ORDER_VIEW_FINAL_TTL", "order-view-final-ttl", 7*24*time.Hour, "how long an order's status view stays in Redis once the order is confirmed, rejected or cancelled (0: for ever); GET then answers from PostgreSQL")
	c.Saga.register(s)
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.SinkBatch < 1 || c.SinkBatch > 100_000 {
		errs = append(errs, fmt.Errorf("ORDER_SINK_BATCH_RECORDS %d: want 1..100000", c.SinkBatch))
	}
	if c.ViewFinalTTL < 0 {
		errs = append(errs, fmt.Errorf("ORDER_VIEW_FINAL_TTL %s: want ≥ 0", c.ViewFinalTTL))
	}
	if c.SinkLanes < 1 || c.SinkLanes > 64 {
		errs = append(errs, fmt.Errorf("ORDER_SINK_LANES %d: want 1..64", c.SinkLanes))
	} else if c.SinkLanes > c.Postgres.MaxConns {
		errs = append(errs, fmt.Errorf("ORDER_SINK_LANES %d: more than DATABASE_MAX_CONNS (%d) would wait for connections", c.SinkLanes, c.Postgres.MaxConns))
	}
	return errors.Join(c.Kafka.Validate(), c.Postgres.Validate(), c.Redis.Validate(), c.Saga.validate(), errors.Join(errs...))
}

// component is one long-running part of the processor.
type component struct {
	name string
	run  func(ctx context.Context) error
}

// Service is the running processor.
type Service struct {
	cfg    Config
	env    *app.Env
	log    *slog.Logger
	client *kgo.Client // readiness: Kafka answers
	pool   *pgxpool.Pool
	rdb    *redis.Client

	components []component
	mu         sync.Mutex
	stopped    map[string]error // components that returned
}

// New builds the processor. Nothing connects yet: PostgreSQL and Redis may
// be down at start.
func New(ctx context.Context, env *app.Env, cfg Config) (*Service, error) {
	cl, err := kafka.NewClient(cfg.Kafka, env.Logger)
	if err != nil {
		return nil, err
	}
	pool, err := pg.NewPool(ctx, cfg.Postgres)
	if err != nil {
		cl.Close()
		return nil, err
	}
	rdb, err := redisx.NewClient(cfg.Redis)
	if err != nil {
		cl.Close()
		pool.Close()
		return nil, err
	}
	s := &Service{cfg: cfg, env: env, log: env.Logger, client: cl, pool: pool, rdb: rdb, stopped: map[string]error{}}
	member := s.member()
	proj, err := projector.New(projector.Config{Kafka: cfg.Kafka, KeyPrefix: cfg.Redis.KeyPrefix,
		InstanceID: member.InstanceID, SessionTimeout: member.SessionTimeout, FinalTTL: cfg.ViewFinalTTL}, rdb, env.Logger, env.Metrics)
	if err != nil {
		s.closeClients()
		return nil, err
	}
	if err := s.addSaga(); err != nil {
		s.closeClients()
		return nil, err
	}
	s.add("order-sink", s.runSink)
	s.add("order-projector", func(ctx context.Context) error { defer proj.Close(); return proj.Run(ctx) })
	env.Health.Add("kafka", kafka.Check(cl))
	env.Health.Add("components", s.componentsRunning)
	return s, nil
}

// add registers a component; Run starts it.
func (s *Service) add(name string, run func(ctx context.Context) error) {
	s.components = append(s.components, component{name, run})
}

// Routes has no public routes.
func (s *Service) Routes(_ *mux.Router) {}

// Run runs every component until ctx is done or one of them fails.
func (s *Service) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range s.components {
		g.Go(func() error {
			err := c.run(gctx)
			if err != nil && gctx.Err() == nil {
				err = fmt.Errorf("%s: %w", c.name, err)
			} else if gctx.Err() != nil {
				err = nil
			}
			s.mu.Lock()
			s.stopped[c.name] = err
			s.mu.Unlock()
			if err == nil && gctx.Err() == nil {
				err = fmt.Errorf("%s stopped", c.name)
			}
			return err
		})
	}
	return g.Wait()
}

func (s *Service) componentsRunning(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name, err := range s.stopped {
		if err == nil {
			errs = append(errs, fmt.Errorf("%s stopped", name))
		} else {
			errs = append(errs, fmt.Errorf("%s stopped: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// runSink migrates the database (retrying while PostgreSQL is down; the
// other components run meanwhile), then runs the sink.
func (s *Service) runSink(ctx context.Context) error {
	policy := retrypolicy.NewBuilder[any]().
		HandleIf(func(_ any, err error) bool { return err != nil && ctx.Err() == nil }).
		WithMaxRetries(-1).WithBackoff(200*time.Millisecond, 10*time.Second).
		OnRetryScheduled(func(e failsafe.ExecutionScheduledEvent[any]) {
			s.log.Warn("database migration failed; retrying", "attempt", e.Attempts(), "in", e.Delay, "error", e.LastError())
		}).Build()
	err := failsafe.With(policy).WithContext(ctx).Run(func() error {
		applied, err := orderstore.Migrate(ctx, s.cfg.Postgres.URL, s.log)
		if err == nil && len(applied) > 0 {
			s.log.Info("database migrated", "versions", applied)
		}
		return err
	})
	if err != nil {
		return err
	}
	member := s.member()
	sk, err := sink.New(sink.Config{Kafka: s.cfg.Kafka, MaxBatch: s.cfg.SinkBatch, Lanes: s.cfg.SinkLanes,
		InstanceID: member.InstanceID, SessionTimeout: member.SessionTimeout}, s.pool, s.log, s.env.Metrics)
	if err != nil {
		return err
	}
	defer sk.Close()
	return sk.Run(ctx)
}

// groupMember is how the sink and the projector join their consumer groups.
type groupMember struct {
	InstanceID     string
	SessionTimeout time.Duration
}

// member is the sink's and the projector's static membership, the way the
// saga's streams runtime has it: group.instance.id is this slot's INSTANCE_ID
// (the StatefulSet pod name; the host name when unset), so a slot restarted
// after kill -9 takes its partitions back at once instead of waiting out
// KAFKA_SESSION_TIMEOUT. The id is unique per group, and each group has one
// sink or projector per process, so slots never share one; a misconfigured
// second process with the same INSTANCE_ID is detected (the fenced component
// stops with ErrInstanceIDInUse, and with it the process) rather than the
// two fencing each other in turn.
func (s *Service) member() groupMember {
	sc := s.cfg.Saga.orDefaults().Streams
	return groupMember{InstanceID: sc.Instance(), SessionTimeout: sc.SessionTimeout}
}

func (s *Service) closeClients() {
	s.client.Close()
	s.pool.Close()
	_ = s.rdb.Close()
}

// Close releases the clients once Run has returned.
func (s *Service) Close(context.Context) error {
	s.closeClients()
	return nil
}
