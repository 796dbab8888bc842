package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
)

func runTopics(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "apply" {
		return fmt.Errorf("%w: orderpipe topics apply [flags]", ErrUsage)
	}
	var kc config.Kafka
	var opts kafka.SpecOptions
	s := config.NewSet("orderpipe topics apply", nil)
	kc.Register(s)
	s.Duration(&opts.IdempotencyWindow, "IDEMPOTENCY_WINDOW", "idempotency-window", 7*24*time.Hour, "how long an idempotency key is remembered (min.compaction.lag.ms of orders.requests.v1)")
	s.Duration(&opts.EventsRetention, "ORDER_EVENTS_RETENTION", "order-events-retention", 30*24*time.Hour, "retention of orders.events.v1; negative keeps events forever")
	if err := s.Parse(args[1:]); err != nil {
		s.Usage(out)
		return err
	}
	if err := kc.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return ApplyTopics(ctx, kc, opts, out)
}

// ApplyTopics connects with kc and applies the topic spec, printing each change.
func ApplyTopics(ctx context.Context, kc config.Kafka, opts kafka.SpecOptions, out io.Writer) error {
	cl, err := kafka.NewClient(kc, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := kafka.Apply(ctx, cl, kafka.Spec(kc, opts), out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "topics: %d created, %d updated, %d unchanged\n", len(res.Created), len(res.Updated), len(res.Unchanged))
	return nil
}
