package testenv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// ReadTimeout bounds one ReadAll.
const ReadTimeout = time.Minute

// ReadAll returns every committed record of topic, from the start of each
// partition up to the end offset (high watermark) it has when the call
// starts, in partition then offset order. It reads read_committed: records
// of aborted transactions are not returned, and records of a transaction
// still open at the start are waited for until it commits or aborts.
// Transaction markers count towards the end but are not returned.
//
// The end is decided by offsets, never by a quiet spell, so a slow fetch on
// a loaded machine cannot pass for the end of the topic. A topic whose
// partitions are all empty returns at once. A missing topic, or a
// partition not read to its end within ReadTimeout, fails t with the
// partitions not reached.
func (e *KafkaEnv) ReadAll(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	return ReadAllWithin(t, e.Config, topic, ReadTimeout)
}

// ReadAll is KafkaEnv.ReadAll for a test that holds only the Config
// (k.Brokers is the Kafka read).
func ReadAll(t testing.TB, k config.Kafka, topic string) []*kgo.Record {
	t.Helper()
	return ReadAllWithin(t, k, topic, ReadTimeout)
}

// ReadAllWithin is ReadAll bounded by timeout instead of ReadTimeout.
func ReadAllWithin(t testing.TB, k config.Kafka, topic string, timeout time.Duration) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := readAll(ctx, k.Brokers, topic)
	if err != nil {
		t.Fatalf("testenv: reading %s to its end (within %s): %v", topic, timeout, err)
	}
	return out
}

// EndOffsets returns the end offset (high watermark) of every partition of
// topic now, failing t if the topic does not exist.
func (e *KafkaEnv) EndOffsets(t testing.TB, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ReadTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers...))
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	defer cl.Close()
	ends, err := endOffsets(ctx, kadm.NewClient(cl), topic)
	if err != nil {
		t.Fatalf("testenv: end offsets of %s: %v", topic, err)
	}
	return ends
}

func readAll(ctx context.Context, brokers []string, topic string) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxWait(250*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ends, err := endOffsets(ctx, kadm.NewClient(cl), topic)
	if err != nil {
		return nil, err
	}
	left := map[int32]int64{}
	for p, end := range ends {
		if end > 0 {
			left[p] = end
		}
	}
	var out []*kgo.Record
	var lastErr error
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			err := fmt.Errorf("%w; partitions not read to their end: %s", ctx.Err(), notReached(left))
			if lastErr != nil {
				err = fmt.Errorf("%w (last fetch error: %w)", err, lastErr)
			}
			return nil, err
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				lastErr = fmt.Errorf("partition %d: %w", p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= ends[r.Partition] {
				return // beyond the end listed at the start
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	slices.SortStableFunc(out, func(a, b *kgo.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return out, nil
}

// endOffsets lists topic's high watermarks, retrying while a new topic's
// partitions have no leader yet (and, for a few seconds, while a topic just
// created is not yet known to the broker asked).
func endOffsets(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, error) {
	unknownUntil := time.Now().Add(5 * time.Second)
	for {
		listed, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = listed.Error()
		}
		if err == nil {
			ends := map[int32]int64{}
			listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
			if len(ends) > 0 {
				return ends, nil
			}
			err = errors.New("no partitions")
		}
		if errors.Is(err, kerr.UnknownTopicOrPartition) && time.Now().After(unknownUntil) {
			return nil, fmt.Errorf("topic %s does not exist: %w", topic, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("listing end offsets: %w", errors.Join(ctx.Err(), err))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func notReached(left map[int32]int64) string {
	ps := make([]int32, 0, len(left))
	for p := range left {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%d (end %d)", p, left[p])
	}
	return strings.Join(parts, ", ")
}

// WaitCommitted waits until consumer group has committed every partition of
// topic up to the end offset it has when the call starts, failing t with
// the partitions behind if within passes first. A processor that commits
// its input offsets in the transaction of its outputs has then committed
// every output for that input: a ReadAll of its outputs sees them all.
func (e *KafkaEnv) WaitCommitted(t testing.TB, group, topic string, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := waitCommitted(ctx, e.Brokers, group, topic); err != nil {
		t.Fatalf("testenv: group %s on %s (within %s): %v", group, topic, within, err)
	}
}

func waitCommitted(ctx context.Context, brokers []string, group, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := endOffsets(ctx, adm, topic)
	if err != nil {
		return err
	}
	for {
		committed, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = committed.Error()
		}
		behind := map[int32]int64{}
		for p, end := range ends {
			if end == 0 {
				continue
			}
			if o, ok := committed.Lookup(topic, p); err != nil || !ok || o.At < end {
				behind[p] = end
			}
		}
		if len(behind) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("partitions not committed to their end: %s", notReached(behind))
			for p := range behind {
				if o, ok := committed.Lookup(topic, p); ok {
					msg += fmt.Sprintf("; %d at %d", p, o.At)
				}
			}
			if err != nil {
				return fmt.Errorf("%w; %s (last error: %w)", ctx.Err(), msg, err)
			}
			return fmt.Errorf("%w; %s", ctx.Err(), msg)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
