package orders

import (
	"errors"
	"fmt"

	"github.com/orderpipe/orderpipe/internal/orders/processor"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/streams"
)

// SagaConfig is the order saga's settings: the streams runtime's
// (INSTANCE_ID, commit interval, session and transaction timeouts) and the
// saga's own (ORDER_SAGA_TIMEOUT, IDEMPOTENCY_WINDOW). The zero value means
// the defaults (for embedding and tests that build a Config by hand).
type SagaConfig struct {
	Streams streams.Config
	Rules   processor.Config
}

func (c *SagaConfig) register(s *config.Set) {
	c.Streams.Register(s)
	c.Rules.Register(s)
}

func (c SagaConfig) orDefaults() SagaConfig {
	if c == (SagaConfig{}) {
		return SagaConfig{Streams: streams.DefaultConfig(), Rules: processor.DefaultConfig()}
	}
	return c
}

func (c SagaConfig) validate() error {
	c = c.orDefaults()
	return errors.Join(c.Streams.Validate(), c.Rules.Validate())
}

// addSaga adds the order saga (package processor on the streams runtime)
// as a component. It reports ready once its tasks are restored.
func (s *Service) addSaga() error {
	cfg := s.cfg.Saga.orDefaults()
	p := processor.New(kafka.TopicNames(s.cfg.Kafka.TopicPrefix), cfg.Rules)
	for _, c := range p.Collectors() {
		if err := s.env.Metrics.Register(c); err != nil {
			return fmt.Errorf("saga metrics: %w", err)
		}
	}
	proc, err := streams.New(p.Topology(), s.cfg.Kafka, cfg.Streams,
		streams.WithLogger(s.log), streams.WithRegisterer(s.env.Metrics))
	if err != nil {
		return err
	}
	s.env.Health.Add("saga", proc.Ready)
	s.add("order-saga", proc.Run)
	return nil
}
