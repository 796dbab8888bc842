package catalog

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/redisx"
)

// RebuildStats sums up a rebuild.
type RebuildStats struct {
	KeysDeleted int
	Products    int
	Stock       int
	Skipped     int // undecodable (the live projector sends them to the DLQ)
	Elapsed     time.Duration
}

// Rebuild recreates the catalog projection from scratch: it deletes every
// key of the projection (carts are not touched) and replays
// catalog.products.v1 and inventory.stock.v1 from their start to their last
// stable offsets as of now, through the same versioned writes the projector
// uses, then tells every catalog-api to drop its L1. Running projectors may
// go on meanwhile: the version compare makes the overlap harmless. Reads
// of products not yet replayed are 404 (or served from L1) until the
// replay reaches them.
func Rebuild(ctx context.Context, kc config.Kafka, rc config.Redis, out io.Writer) (RebuildStats, error) {
	start := time.Now()
	var st RebuildStats
	rdb, err := redisx.NewClient(rc)
	if err != nil {
		return st, err
	}
	defer func() { _ = rdb.Close() }()
	store := NewStore(rdb, rc.KeyPrefix)
	if err := store.LoadScripts(ctx); err != nil {
		return st, err
	}

	cl, err := kafka.NewConsumer(kc, nil, kgo.KeepControlRecords())
	if err != nil {
		return st, err
	}
	defer cl.Close()
	names := kafka.TopicNames(kc.TopicPrefix)
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, names.CatalogProducts, names.InventoryStock)
	if err != nil {
		return st, fmt.Errorf("rebuild: end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return st, fmt.Errorf("rebuild: end offsets: %w", err)
	}
	remaining := map[string]map[int32]int64{}
	assign := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if remaining[o.Topic] == nil {
			remaining[o.Topic], assign[o.Topic] = map[int32]int64{}, map[int32]kgo.Offset{}
		}
		if o.Offset > 0 {
			remaining[o.Topic][o.Partition] = o.Offset
			assign[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
		}
	})

	if st.KeysDeleted, err = wipe(ctx, store); err != nil {
		return st, err
	}
	fmt.Fprintf(out, "rebuild: deleted %d keys under %s\n", st.KeysDeleted, store.k)

	cl.AddConsumePartitions(assign)
	left := func() int {
		n := 0
		for _, ps := range remaining {
			n += len(ps)
		}
		return n
	}
	lastProgress, lastRecord := time.Now(), time.Now()
	for left() > 0 {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := cl.PollRecords(pctx, 5000)
		cancel()
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		var changes []Change
		fetches.EachRecord(func(r *kgo.Record) {
			if end, ok := remaining[r.Topic][r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining[r.Topic], r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			c, err := decodeChange(r, names)
			if err != nil {
				st.Skipped++
				return
			}
			if r.Topic == names.InventoryStock {
				st.Stock++
			} else {
				st.Products++
			}
			changes = append(changes, c)
		})
		if len(changes) > 0 {
			lastRecord = time.Now()
			if _, err := store.Apply(ctx, changes); err != nil {
				return st, fmt.Errorf("rebuild: %w", err)
			}
		} else if time.Since(lastRecord) > 5*time.Second {
			// Only aborted records (never returned read_committed) lie
			// between the position and the end.
			break
		}
		if time.Since(lastProgress) >= time.Second {
			fmt.Fprintf(out, "rebuild: %d product records, %d stock snapshots replayed\n", st.Products, st.Stock)
			lastProgress = time.Now()
		}
	}
	if err := rdb.Publish(ctx, store.Channel(), "*").Err(); err != nil {
		return st, fmt.Errorf("rebuild: publish invalidation: %w", err)
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// wipe deletes every key of the projection.
func wipe(ctx context.Context, s *Store) (int, error) {
	pattern := globEscape(s.k) + "*"
	n := 0
	iter := s.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	batch := make([]string, 0, 500)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.rdb.Unlink(ctx, batch...).Err(); err != nil {
			return fmt.Errorf("rebuild: delete keys: %w", err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return n, fmt.Errorf("rebuild: scan keys: %w", err)
	}
	return n, flush()
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}
