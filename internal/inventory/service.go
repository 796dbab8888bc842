// Package inventory is the inventory-processor: it owns stock per product
// partition and reserves it with exactly-once Kafka transactions.
package inventory

import (
	"context"
	"errors"

	"github.com/gorilla/mux"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
)

// DefaultAddr is inventory-processor's default listen address (probes, metrics).
const DefaultAddr = ":8084"

// Config is inventory-processor's configuration.
type Config struct {
	Kafka config.Kafka
}

// Register binds the settings.
func (c *Config) Register(s *config.Set) { c.Kafka.Register(s) }

// Validate reports every problem at once.
func (c *Config) Validate() error { return errors.Join(c.Kafka.Validate()) }

// Service is the running processor.
type Service struct {
	client *kgo.Client
}

// New builds the processor.
func New(_ context.Context, env *app.Env, cfg Config) (*Service, error) {
	cl, err := kafka.NewClient(cfg.Kafka, env.Logger)
	if err != nil {
		return nil, err
	}
	env.Health.Add("kafka", kafka.Check(cl))
	return &Service{client: cl}, nil
}

// Routes has no public routes.
func (s *Service) Routes(_ *mux.Router) {}

// Run processes until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Close releases the client.
func (s *Service) Close(context.Context) error {
	s.client.Close()
	return nil
}
