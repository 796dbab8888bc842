// Package catalog serves product and stock reads from Redis with an
// in-process L1 cache, carts, and catalog admin writes.
package catalog

import (
	"context"
	"errors"

	"github.com/gorilla/mux"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/redisx"
)

// DefaultAddr is catalog-api's default listen address.
const DefaultAddr = ":8082"

// Config is catalog-api's configuration.
type Config struct {
	Kafka config.Kafka
	Redis config.Redis
}

// Register binds the settings.
func (c *Config) Register(s *config.Set) {
	c.Kafka.Register(s)
	c.Redis.Register(s)
}

// Validate reports every problem at once.
func (c *Config) Validate() error { return errors.Join(c.Kafka.Validate(), c.Redis.Validate()) }

// Service is the running catalog-api.
type Service struct {
	producer *kgo.Client
	redis    *redis.Client
}

// New builds catalog-api.
func New(_ context.Context, env *app.Env, cfg Config) (*Service, error) {
	rdb, err := redisx.NewClient(cfg.Redis)
	if err != nil {
		return nil, err
	}
	producer, err := kafka.NewProducer(cfg.Kafka, env.Logger)
	if err != nil {
		return nil, err
	}
	env.Health.Add("kafka", kafka.Check(producer))
	env.Health.Add("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	return &Service{producer: producer, redis: rdb}, nil
}

// Routes mounts the catalog routes.
func (s *Service) Routes(_ *mux.Router) {}

// Run has no background work yet.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Close releases the clients.
func (s *Service) Close(ctx context.Context) error {
	err := s.producer.Flush(ctx)
	s.producer.Close()
	return errors.Join(err, s.redis.Close())
}
