package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/catalog/domain"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/lag"
	"github.com/orderpipe/orderpipe/schemas"
)

// The projector keeps the Redis projection in step with catalog.products.v1
// and inventory.stock.v1. It reads read_committed in a consumer group (each
// product partition has one writer at a time), writes each fetched batch in
// one Redis pipeline, sends undecodable records to their DLQ, and commits
// offsets only after both: at least once into Redis, made idempotent by the
// per-source version compare.

const projectorStage = "catalog-projector"

type projector struct {
	lag   *lag.Gauges
	cl    *kgo.Client
	dlq   *kgo.Client
	store *Store
	names kafka.Names
	m     *metrics
	log   *slog.Logger
}

func newProjector(kc config.Kafka, group string, store *Store, dlq *kgo.Client, m *metrics, reg prometheus.Registerer, logger *slog.Logger) (*projector, error) {
	names := kafka.TopicNames(kc.TopicPrefix)
	group = kc.TopicPrefix + group
	gauges, err := lag.New(reg, group)
	if err != nil {
		return nil, err
	}
	cl, err := kafka.NewConsumer(kc, logger,
		kgo.ConsumerGroup(group),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { forget(gauges, lost) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { forget(gauges, lost) }),
		kgo.ConsumeTopics(names.CatalogProducts, names.InventoryStock),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.KeepControlRecords(),
		kgo.SessionTimeout(10*time.Second),
	)
	if err != nil {
		return nil, err
	}
	return &projector{lag: gauges, cl: cl, dlq: dlq, store: store, names: names, m: m, log: logger}, nil
}

func forget(g *lag.Gauges, parts map[string][]int32) {
	for topic, ps := range parts {
		for _, p := range ps {
			g.Forget(topic, p)
		}
	}
}

// run projects until ctx is done.
func (p *projector) run(ctx context.Context) error {
	if err := p.store.LoadScripts(ctx); err != nil {
		p.log.Warn("catalog projector: scripts not preloaded", "error", err)
	}
	// A poll blocks rebalances until AllowRebalance; a blocked one would
	// keep Close from leaving the group.
	defer p.cl.AllowRebalance()
	for {
		fetches := p.cl.PollRecords(ctx, 5000)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return ctx.Err()
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			p.log.Warn("catalog projector: fetch error", "topic", topic, "partition", partition, "error", err)
		})
		if err := p.process(ctx, fetches); err != nil {
			return err
		}
		if err := p.cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			// Not fatal: the next commit covers these offsets; a restart
			// replays a little, which the version compare absorbs.
			p.log.Warn("catalog projector: commit failed", "error", err)
		}
		p.cl.AllowRebalance()
	}
}

// process writes one poll's records to Redis (retrying until it succeeds or
// ctx ends) and sends undecodable ones to their DLQ.
func (p *projector) process(ctx context.Context, fetches kgo.Fetches) error {
	var changes []Change
	var topics []string
	var dead []*kgo.Record
	var reasons []error
	fetches.EachRecord(func(r *kgo.Record) {
		if r.Attrs.IsControl() {
			return
		}
		c, err := decodeChange(r, p.names)
		if err != nil {
			dead = append(dead, r)
			reasons = append(reasons, err)
			return
		}
		changes = append(changes, c)
		topics = append(topics, r.Topic)
	})
	if len(dead) > 0 {
		if err := p.deadLetter(ctx, dead, reasons); err != nil {
			return err
		}
	}
	if len(changes) > 0 {
		applied, err := p.applyWithRetry(ctx, changes)
		if err != nil {
			return err
		}
		for i, ok := range applied {
			res := "stale"
			if ok {
				res = "applied"
			}
			p.m.projected.WithLabelValues(topics[i], res).Inc()
		}
	}
	p.observeLag(fetches)
	return nil
}

func (p *projector) applyWithRetry(ctx context.Context, changes []Change) ([]bool, error) {
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		applied, err := p.store.Apply(ctx, changes)
		if err == nil {
			p.m.applyTime.Observe(time.Since(start).Seconds())
			return applied, nil
		}
		p.log.Warn("catalog projector: Redis write failed; retrying", "records", len(changes), "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// observeLag exports each fetched partition's lag (pkg/lag, design
// decision 11). The consumer keeps control records, so the position after
// the last record fetched is exact: a caught-up partition reads 0.
func (p *projector) observeLag(fetches kgo.Fetches) {
	now := time.Now()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		behind := lag.Records(fp.Records[len(fp.Records)-1].Offset+1, fp.LastStableOffset)
		var ts time.Time
		for i := len(fp.Records) - 1; i >= 0; i-- {
			if !fp.Records[i].Attrs.IsControl() {
				ts = fp.Records[i].Timestamp
				break
			}
		}
		p.lag.Set(fp.Topic, fp.Partition, behind, lag.Seconds(behind, ts, now))
	})
}

// deadLetter writes records that cannot be projected to their DLQ.
func (p *projector) deadLetter(ctx context.Context, recs []*kgo.Record, reasons []error) error {
	out := make([]*kgo.Record, len(recs))
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i, r := range recs {
		reason := reasons[i].Error()
		if len(reason) > 1024 {
			reason = reason[:1024]
		}
		h := append(append([]kgo.RecordHeader(nil), r.Headers...),
			kgo.RecordHeader{Key: schemas.DLQHeaderReason, Value: []byte(reason)},
			kgo.RecordHeader{Key: schemas.DLQHeaderTopic, Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: schemas.DLQHeaderPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
			kgo.RecordHeader{Key: schemas.DLQHeaderOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
			kgo.RecordHeader{Key: schemas.DLQHeaderStage, Value: []byte(projectorStage)},
			kgo.RecordHeader{Key: schemas.DLQHeaderTime, Value: []byte(now)},
		)
		out[i] = &kgo.Record{Topic: kafka.DLQ(r.Topic), Key: r.Key, Value: r.Value, Headers: h}
		p.log.Warn("catalog projector: record sent to DLQ", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason)
		p.m.projected.WithLabelValues(r.Topic, "dlq").Inc()
	}
	for {
		err := p.dlq.ProduceSync(ctx, out...).FirstErr()
		if err == nil {
			return nil
		}
		p.log.Warn("catalog projector: DLQ produce failed; retrying", "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (p *projector) close() { p.cl.Close() }

// decodeChange turns a record of either topic into a Change. The key is the
// product id; a nil value is a tombstone.
func decodeChange(r *kgo.Record, names kafka.Names) (Change, error) {
	id := string(r.Key)
	if id == "" {
		return Change{}, errors.New("record has no key (want the productId)")
	}
	isStock := r.Topic == names.InventoryStock
	if r.Value == nil {
		return Change{ProductID: id, Tombstone: true, IsStock: isStock}, nil
	}
	if isStock {
		var s schemas.StockSnapshot
		if err := json.Unmarshal(r.Value, &s); err != nil {
			return Change{}, fmt.Errorf("decode stock snapshot: %w", err)
		}
		if s.ProductID != "" && s.ProductID != id {
			return Change{}, fmt.Errorf("productId %q does not match the key %q", s.ProductID, id)
		}
		s.ProductID = id
		return Change{ProductID: id, Stock: &s}, nil
	}
	var pr schemas.Product
	if err := json.Unmarshal(r.Value, &pr); err != nil {
		return Change{}, fmt.Errorf("decode product: %w", err)
	}
	if pr.ProductID != "" && pr.ProductID != id {
		return Change{}, fmt.Errorf("productId %q does not match the key %q", pr.ProductID, id)
	}
	pr.ProductID = id
	if ok, why := domain.ValidID(pr.CategoryID); !ok && pr.Active {
		return Change{}, fmt.Errorf("categoryId %s", why)
	}
	return Change{ProductID: id, Product: &pr}, nil
}
