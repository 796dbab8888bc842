// Package projector keeps the order status projection in Redis (design
// decision 9): a read_committed consumer of orders.state.v1 in its own
// group writes each order's view (internal/orderview: key, JSON value, a Lua
// compare on version), so it is the single writer of those keys and a
// replayed or reordered record never moves an order back. Offsets are
// committed after the writes (at least once; the version compare makes a
// repeat harmless). Redis down: the projector retries with backoff and
// catches up; nothing else waits for it.
package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	json "github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
)

// Config configures a projector.
type Config struct {
	Kafka config.Kafka
	// KeyPrefix prefixes every Redis key (REDIS_KEY_PREFIX).
	KeyPrefix string
	// Group is the consumer group. Default: TopicPrefix + "order-projector".
	Group string
	// MaxBatch is the most records one poll takes. Default 4096.
	MaxBatch int
	// Pipeline is the most views written in one Redis pipeline (one round
	// trip of EVALSHA calls). Default 512.
	Pipeline int
	// Concurrency is how many pipelines are in flight at once. Default 4.
	Concurrency int
	// MinBackoff and MaxBackoff bound the retry delay while Redis fails.
	// Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// InstanceID, when set, is the static group.instance.id: a slot
	// restarted after a crash takes its partitions back at once instead of
	// waiting out the session timeout. Every running projector of a group
	// needs its own: a second one with the same id fences the first, whose
	// Run then returns ErrInstanceIDInUse.
	InstanceID string
	// SessionTimeout is the group session timeout (KAFKA_SESSION_TIMEOUT).
	// Default 10s.
	SessionTimeout time.Duration
	// FinalTTL is how long the view of an order with an outcome stays in
	// Redis (ORDER_VIEW_FINAL_TTL); 0 keeps it for ever. Readers fall back
	// to PostgreSQL for orders whose view has expired.
	FinalTTL time.Duration
}

// ErrInstanceIDInUse says another member of the group joined with this
// projector's group.instance.id and fenced it; the projector stops rather
// than fight it for the slot.
var ErrInstanceIDInUse = errors.New("projector: group.instance.id taken over by another instance (every instance needs its own INSTANCE_ID)")

func (c *Config) defaults() {
	if c.Group == "" {
		c.Group = c.Kafka.TopicPrefix + "order-projector"
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 4096
	}
	if c.Pipeline <= 0 {
		c.Pipeline = 512
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(5*time.Second, c.MinBackoff)
	}
}

// Projector is a running status projector.
type Projector struct {
	cfg    Config
	log    *slog.Logger
	rdb    orderview.Pipeliner
	client *kgo.Client
	topic  string
	m      *metrics
}

// New builds a projector writing with rdb. It connects lazily.
func New(cfg Config, rdb orderview.Pipeliner, logger *slog.Logger, reg prometheus.Registerer) (*Projector, error) {
	cfg.defaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Projector{cfg: cfg, log: logger.With("component", "order-projector", "group", cfg.Group), rdb: rdb,
		topic: kafka.TopicNames(cfg.Kafka.TopicPrefix).OrderState}
	var err error
	if p.m, err = newMetrics(reg, cfg.Group); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(p.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // a new group rebuilds the projection
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.OnPartitionsRevoked(p.revoked),
		kgo.OnPartitionsLost(p.lost),
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	if p.client, err = kafka.NewConsumer(cfg.Kafka, logger, opts...); err != nil {
		return nil, err
	}
	return p, nil
}

// Close commits what was written and leaves the group.
func (p *Projector) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.client.CommitMarkedOffsets(ctx); err != nil {
		p.log.Warn("final offset commit failed; the next owner re-applies a few records (harmless)", "error", err)
	}
	p.client.Close()
}

func (p *Projector) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		p.log.Warn("offset commit on revoke failed; the next owner re-applies a few records (harmless)", "error", err)
	}
	p.lost(ctx, cl, revoked)
}

func (p *Projector) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	for t, ps := range lost {
		for _, part := range ps {
			p.m.lag.Forget(t, part)
		}
	}
}

// Run projects until ctx is done.
func (p *Projector) Run(ctx context.Context) error {
	for {
		fetches := p.client.PollRecords(ctx, p.cfg.MaxBatch)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		var fenced bool
		fetches.EachError(func(t string, part int32, err error) {
			switch {
			case errors.Is(err, kerr.FencedInstanceID):
				fenced = true
			case !errors.Is(err, context.Canceled):
				p.log.Warn("fetch error", "topic", t, "partition", part, "error", err)
			}
		})
		if fenced {
			return fmt.Errorf("%w: %q in group %s", ErrInstanceIDInUse, p.cfg.InstanceID, p.cfg.Group)
		}
		var records []*kgo.Record
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			records = append(records, fp.Records...)
			p.m.lag.Observe(fp, time.Now())
		})
		if len(records) == 0 {
			continue
		}
		views := p.latest(records)
		if err := p.write(ctx, views); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		p.client.MarkCommitRecords(records...)
	}
}

// latest decodes records into views, newest version per order. A record
// that cannot be decoded is skipped and counted: the PostgreSQL sink
// dead-letters the same record, with its reason, from the same topic.
func (p *Projector) latest(records []*kgo.Record) []orderview.View {
	byID := make(map[string]int, len(records))
	views := make([]orderview.View, 0, len(records))
	for _, r := range records {
		if r.Value == nil {
			continue
		}
		var s schemas.OrderState
		if err := json.Unmarshal(r.Value, &s); err != nil || s.Version < 1 || uuid.Validate(s.OrderID) != nil {
			p.m.undecodable.Inc()
			p.log.Warn("skipping an undecodable order state", "partition", r.Partition, "offset", r.Offset, "error", err)
			continue
		}
		v := orderview.FromState(s)
		if i, ok := byID[v.OrderID]; ok {
			if v.Version > views[i].Version {
				views[i] = v
			}
			continue
		}
		byID[v.OrderID] = len(views)
		views = append(views, v)
	}
	return views
}

// write stores every view — pipelines of up to cfg.Pipeline views,
// cfg.Concurrency of them at once — retrying the batch while Redis fails
// (each write is a version compare, so repeating is harmless).
func (p *Projector) write(ctx context.Context, views []orderview.View) error {
	policy := retrypolicy.NewBuilder[any]().
		HandleIf(func(_ any, err error) bool { return err != nil && ctx.Err() == nil }).
		WithMaxRetries(-1).
		WithBackoff(p.cfg.MinBackoff, p.cfg.MaxBackoff).
		WithJitterFactor(0.2).
		OnRetryScheduled(func(e failsafe.ExecutionScheduledEvent[any]) {
			p.m.paused.Set(1)
			p.m.retries.Inc()
			p.log.Warn("paused: Redis write failed, retrying", "attempt", e.Attempts(), "in", e.Delay, "error", e.LastError())
		}).
		Build()
	defer p.m.paused.Set(0)
	return failsafe.With(policy).WithContext(ctx).Run(func() error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(p.cfg.Concurrency)
		for chunk := range slices.Chunk(views, p.cfg.Pipeline) {
			g.Go(func() error {
				written, err := orderview.WriteBatch(gctx, p.rdb, p.cfg.KeyPrefix, chunk, p.cfg.FinalTTL)
				if err != nil {
					return err
				}
				for _, w := range written {
					p.m.written(w)
				}
				return nil
			})
		}
		return g.Wait()
	})
}
