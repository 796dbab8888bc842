// Package inventory is the inventory-processor: it owns stock per product
// partition and reserves it with exactly-once Kafka transactions, on the
// streams runtime. The rules live in package domain; this package maps
// records to them (processor.go, records.go) and wires the service.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/mux"

	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/streams"
)

// DefaultAddr is inventory-processor's default listen address (probes, metrics).
const DefaultAddr = ":8084"

// Config is inventory-processor's configuration.
type Config struct {
	Kafka     config.Kafka
	Streams   streams.Config
	Retention time.Duration
}

// Register binds the settings.
func (c *Config) Register(s *config.Set) {
	c.Kafka.Register(s)
	c.Streams.Register(s)
	s.Duration(&c.Retention, "INVENTORY_RETENTION", "inventory-retention", DefaultRetention,
		"how long the inventory-processor remembers finished order lines and adjustment ids (deduplication window)")
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Retention < time.Hour {
		errs = append(errs, fmt.Errorf("INVENTORY_RETENTION %s: want ≥ 1h (longer than any saga)", c.Retention))
	}
	return errors.Join(c.Kafka.Validate(), c.Streams.Validate(), errors.Join(errs...))
}

// Service is the running processor.
type Service struct {
	proc *streams.Processor
}

// New builds the processor. It does not wait for Kafka: Run does, and
// /health/ready says when the tasks are restored and processing.
func New(_ context.Context, env *app.Env, cfg Config) (*Service, error) {
	p := NewProcessorWithRetention(kafka.TopicNames(cfg.Kafka.TopicPrefix), cfg.Retention)
	env.Metrics.MustRegister(p.Collectors()...)
	proc, err := streams.New(p.Topology(), cfg.Kafka, cfg.Streams,
		streams.WithLogger(env.Logger), streams.WithRegisterer(env.Metrics))
	if err != nil {
		return nil, err
	}
	env.Health.Add("streams", proc.Ready)
	return &Service{proc: proc}, nil
}

// Routes has no public routes.
func (s *Service) Routes(_ *mux.Router) {}

// Run processes until ctx is done.
func (s *Service) Run(ctx context.Context) error { return s.proc.Run(ctx) }

// Close has nothing left to release: Run closed the Kafka clients.
func (s *Service) Close(context.Context) error { return nil }
