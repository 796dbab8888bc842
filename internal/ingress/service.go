// Package ingress is the HTTP front door for orders: it validates a request,
// writes it durably to orders.requests.v1 and only then answers 202.
package ingress

import (
	"context"
	"errors"

	"github.com/gorilla/mux"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
)

// DefaultAddr is the ingress's default listen address.
const DefaultAddr = ":8081"

// Config is the ingress's configuration.
type Config struct {
	Kafka    config.Kafka
	Redis    config.Redis
	Postgres config.Postgres
}

// Register binds the settings.
func (c *Config) Register(s *config.Set) {
	c.Kafka.Register(s)
	c.Redis.Register(s)
	c.Postgres.Register(s)
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	return errors.Join(c.Kafka.Validate(), c.Redis.Validate(), c.Postgres.Validate())
}

// Service is the running ingress.
type Service struct {
	producer *kgo.Client
}

// New builds the ingress.
func New(_ context.Context, env *app.Env, cfg Config) (*Service, error) {
	producer, err := kafka.NewProducer(cfg.Kafka, env.Logger)
	if err != nil {
		return nil, err
	}
	env.Health.Add("kafka", kafka.Check(producer))
	return &Service{producer: producer}, nil
}

// Routes mounts the order routes.
func (s *Service) Routes(_ *mux.Router) {}

// Run has no background work.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Close flushes in-flight produces and closes the client.
func (s *Service) Close(ctx context.Context) error {
	err := s.producer.Flush(ctx)
	s.producer.Close()
	return err
}
