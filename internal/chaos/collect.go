package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// Collector reads a run's end state from outside the services.
type Collector struct {
	Kafka       config.Kafka
	PostgresURL string
	RedisURL    string
	KeyPrefix   string
}

// Collect reads every topic to its end (read_committed, once the last
// stable offset reached the end of every partition), the PostgreSQL orders
// and the Redis projections of the given orders and products.
func (c Collector) Collect(ctx context.Context, orderIDs []string, products []Product) (Observed, error) {
	obs := Observed{Requests: map[string]int{}}
	names := kafka.TopicNames(c.Kafka.TopicPrefix)
	if err := c.eachRecord(ctx, names.OrderRequests, func(r *kgo.Record) error {
		var req schemas.OrderRequest
		if err := json.Unmarshal(r.Value, &req); err != nil {
			return fmt.Errorf("%s offset %d: %w", r.Topic, r.Offset, err)
		}
		obs.Requests[req.OrderID]++
		return nil
	}); err != nil {
		return obs, err
	}
	if err := c.eachRecord(ctx, names.OrderEvents, func(r *kgo.Record) error {
		ev := Event{CEID: kafka.Header(r, kafka.HeaderID), Timestamp: r.Timestamp}
		if err := json.Unmarshal(r.Value, &ev.OrderEvent); err != nil {
			return fmt.Errorf("%s offset %d: %w", r.Topic, r.Offset, err)
		}
		obs.Events = append(obs.Events, ev)
		return nil
	}); err != nil {
		return obs, err
	}
	if err := c.eachRecord(ctx, names.InventoryResults, func(r *kgo.Record) error {
		var res schemas.InventoryResult
		if err := json.Unmarshal(r.Value, &res); err != nil {
			return fmt.Errorf("%s offset %d: %w", r.Topic, r.Offset, err)
		}
		obs.Results = append(obs.Results, res)
		return nil
	}); err != nil {
		return obs, err
	}
	if err := c.eachRecord(ctx, names.InventoryCommands, func(r *kgo.Record) error {
		var cmd schemas.InventoryCommand
		if err := json.Unmarshal(r.Value, &cmd); err != nil {
			return fmt.Errorf("%s offset %d: %w", r.Topic, r.Offset, err)
		}
		obs.Commands = append(obs.Commands, cmd)
		return nil
	}); err != nil {
		return obs, err
	}
	if err := c.eachRecord(ctx, names.InventoryStock, func(r *kgo.Record) error {
		var s schemas.StockSnapshot
		if err := json.Unmarshal(r.Value, &s); err != nil {
			return fmt.Errorf("%s offset %d: %w", r.Topic, r.Offset, err)
		}
		obs.Stock = append(obs.Stock, s)
		return nil
	}); err != nil {
		return obs, err
	}
	for _, topic := range names.All() {
		if err := c.eachRecord(ctx, kafka.DLQ(topic), func(r *kgo.Record) error {
			obs.DLQ = append(obs.DLQ, DLQRecord{Topic: r.Topic, Key: string(r.Key),
				Reason: kafka.Header(r, streams.HeaderDLQReason), Error: kafka.Header(r, streams.HeaderDLQError)})
			return nil
		}); err != nil && !errors.Is(err, errNoTopic) {
			return obs, err
		}
	}
	var err error
	if obs.Rows, err = c.rows(ctx); err != nil {
		return obs, err
	}
	if obs.Views, obs.CatalogStock, err = c.redis(ctx, orderIDs, products); err != nil {
		return obs, err
	}
	return obs, nil
}

var errNoTopic = errors.New("no such topic")

// eachRecord reads topic from the start to its end with read_committed.
// It first waits until the last stable offset equals the high watermark on
// every partition (no transaction open), so "the end" is the end.
func (c Collector) eachRecord(ctx context.Context, topic string, fn func(*kgo.Record) error) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cl, err := kafka.NewClient(c.Kafka, nil, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(), kgo.FetchMaxBytes(32<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := stableEnds(ctx, kadm.NewClient(cl), topic)
	if err != nil {
		return err
	}
	left := map[int32]int64{}
	for p, end := range ends {
		if end > 0 {
			left[p] = end
		}
	}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("reading %s: %w (partitions not read to their end: %v)", topic, ctx.Err(), left)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil && !kgoRetriable(ferr) {
			return ferr
		}
		var rerr error
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok {
				if !r.Attrs.IsControl() && r.Offset < end && rerr == nil {
					rerr = fn(r)
				}
				if r.Offset+1 >= end {
					delete(left, r.Partition)
				}
			}
		})
		if rerr != nil {
			return rerr
		}
	}
	return nil
}

func kgoRetriable(err error) bool {
	var ke interface{ Retriable() bool }
	return errors.As(err, &ke) && ke.Retriable()
}

// stableEnds waits until every partition's last stable offset equals its
// high watermark and returns those ends.
func stableEnds(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, error) {
	for {
		hw, err := adm.ListEndOffsets(ctx, topic)
		if err == nil && hw.Error() == nil {
			var lso kadm.ListedOffsets
			if lso, err = adm.ListCommittedOffsets(ctx, topic); err == nil && lso.Error() == nil {
				ends, stable := map[int32]int64{}, true
				if len(hw[topic]) == 0 {
					return nil, fmt.Errorf("%s: %w", topic, errNoTopic)
				}
				for p, o := range hw[topic] {
					ends[p] = o.Offset
					if l, ok := lso.Lookup(topic, p); !ok || l.Offset != o.Offset {
						stable = false
					}
				}
				if stable {
					return ends, nil
				}
			}
		}
		if err == nil {
			err = hw.Error()
		}
		var unknown bool
		if err != nil && strings.Contains(err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
			unknown = true
		}
		if unknown {
			return nil, fmt.Errorf("%s: %w", topic, errNoTopic)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: last stable offset never reached the end: %w", topic, errors.Join(ctx.Err(), err))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c Collector) rows(ctx context.Context) (map[string]Row, error) {
	pool, err := pgxpool.New(ctx, c.PostgresURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	rows := map[string]Row{}
	q, err := pool.Query(ctx, `SELECT o.order_id::text, o.status, o.version, o.total_amount,
		(SELECT count(*) FROM order_status_history h WHERE h.order_id = o.order_id) FROM orders o`)
	if err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	for q.Next() {
		var id string
		var r Row
		if err := q.Scan(&id, &r.Status, &r.Version, &r.Total, &r.History); err != nil {
			return nil, fmt.Errorf("read orders: %w", err)
		}
		rows[id] = r
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	lq, err := pool.Query(ctx, `SELECT order_id::text, line_no, product_id, quantity, unit_price, line_total
		FROM order_lines ORDER BY order_id, line_no`)
	if err != nil {
		return nil, fmt.Errorf("read order lines: %w", err)
	}
	for lq.Next() {
		var id string
		var n int
		var l RowLine
		if err := lq.Scan(&id, &n, &l.ProductID, &l.Quantity, &l.UnitPrice, &l.LineTotal); err != nil {
			return nil, fmt.Errorf("read order lines: %w", err)
		}
		r := rows[id]
		r.Lines = append(r.Lines, l)
		rows[id] = r
	}
	return rows, lq.Err()
}

func (c Collector) redis(ctx context.Context, orderIDs []string, products []Product) (map[string]string, map[string]schemas.StockSnapshot, error) {
	opts, err := redis.ParseURL(c.RedisURL)
	if err != nil {
		return nil, nil, err
	}
	rdb := redis.NewClient(opts)
	defer func() { _ = rdb.Close() }()
	views := make(map[string]string, len(orderIDs))
	for start := 0; start < len(orderIDs); start += 1000 {
		batch := orderIDs[start:min(start+1000, len(orderIDs))]
		keys := make([]string, len(batch))
		for i, id := range batch {
			keys[i] = orderview.Key(c.KeyPrefix, id)
		}
		vals, err := rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("read order views: %w", err)
		}
		for i, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue
			}
			view, err := orderview.Decode([]byte(s))
			if err != nil {
				return nil, nil, fmt.Errorf("order view %s: %w", batch[i], err)
			}
			views[batch[i]] = view.Status
		}
	}
	stock := map[string]schemas.StockSnapshot{}
	for _, p := range products {
		// The catalog projection's layout (internal/catalog/store.go): sj is the stock JSON.
		b, err := rdb.HGet(ctx, c.KeyPrefix+"catalog:p:"+p.ID, "sj").Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read catalog stock of %s: %w", p.ID, err)
		}
		var s schemas.StockSnapshot
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, nil, fmt.Errorf("catalog stock of %s: %w", p.ID, err)
		}
		stock[p.ID] = s
	}
	return views, stock, nil
}
