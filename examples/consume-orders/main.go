// Command consume-orders shows how a downstream team (payments, fulfilment,
// email, analytics) consumes orders.events.v1 correctly:
//
//   - read with isolation.level=read_committed: orderpipe writes the topic in
//     Kafka transactions, and a read_uncommitted reader would see events of
//     aborted transactions — orders that never happened;
//   - one consumer group per team; records of one order (key orderId) arrive
//     in order, on one partition; there is no order across orders;
//   - handle a record, then commit its offset: at least once to you;
//   - make handling idempotent: dedupe on the ce_id header (the same event
//     read twice has the same ce_id) and ignore an event whose version is not
//     newer than what you applied for that order (replays, offset resets);
//   - skip event types (ce_type) you do not know: v1 may gain new ones;
//   - a record you cannot decode goes to your own dead-letter store; never
//     block the partition on it.
//
// Run it against a stack: go run ./examples/consume-orders -brokers 127.0.0.1:9092
// It uses franz-go directly, as a team outside orderpipe would; the
// handling logic is in handler.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	prefix := flag.String("topic-prefix", "", "the deployment's TOPIC_PREFIX")
	group := flag.String("group", "example-order-consumer", "your team's consumer group")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	h := NewHandler(NewMemoryStore(), os.Stdout)
	err := Consume(ctx, Config{Brokers: strings.Split(*brokers, ","), Topic: *prefix + "orders.events.v1", Group: *group}, h, log)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "consume-orders:", err)
		os.Exit(1)
	}
}

// Config says where to read.
type Config struct {
	Brokers []string
	Topic   string
	Group   string
}

// Consume reads cfg.Topic in cfg.Group until ctx is done, handing each
// record to h and committing offsets only after h has handled them.
func Consume(ctx context.Context, cfg Config, h *Handler, log *slog.Logger) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),      // never see aborted transactions
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // a new group reads all retained history
		kgo.DisableAutoCommit(),                           // commit what was handled, not what was fetched
		kgo.BlockRebalanceOnPoll(),                        // no partition moves while a poll is being handled
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			cl.AllowRebalance() // required after every poll with BlockRebalanceOnPoll, or Close waits forever
			return ctx.Err()
		}
		fetches.EachError(func(topic string, p int32, err error) {
			log.Warn("fetch error", "topic", topic, "partition", p, "error", err)
		})
		var handleErr error
		fetches.EachRecord(func(r *kgo.Record) {
			if handleErr != nil {
				return
			}
			handleErr = h.Handle(ctx, eventOf(r))
		})
		if handleErr != nil {
			// Your store is down: stop without committing; a restart
			// re-reads from the last commit and the dedupe makes that safe.
			cl.AllowRebalance()
			return handleErr
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			log.Warn("offset commit failed; these records will be read again (harmless)", "error", err)
		}
		cl.AllowRebalance()
	}
}

func eventOf(r *kgo.Record) Event {
	e := Event{Key: string(r.Key), Value: r.Value, Partition: r.Partition, Offset: r.Offset}
	for _, h := range r.Headers {
		switch h.Key {
		case "ce_id":
			e.ID = string(h.Value)
		case "ce_type":
			e.Type = string(h.Value)
		}
	}
	return e
}
