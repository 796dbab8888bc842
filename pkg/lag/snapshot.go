package lag

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Partition is one group's lag on one partition, as `orderpipe lag` and the
// exporter report it.
type Partition struct {
	Group     string  `json:"group"`
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Committed int64   `json:"committed"`  // the group's committed offset; -1 none
	End       int64   `json:"end"`        // the last stable offset (read_committed end)
	Records   int64   `json:"lagRecords"` // data records waiting (transaction markers and aborted records not counted)
	Seconds   float64 `json:"lagSeconds"` // age of the oldest waiting record
}

// Snapshot reads the committed offsets of groups (all groups when empty)
// and the last stable offsets of their topics, and computes each
// partition's lag. Where the committed offset is behind the end, it reads
// from the committed offset (read_committed, markers kept) to tell waiting
// records — whose oldest timestamp gives the lag in seconds — from a range
// that holds only transaction markers or aborted records, which is lag 0.
// probe is a client whose options Snapshot extends for those reads (built
// with the same connection settings as adm's); nil skips the check.
func Snapshot(ctx context.Context, adm *kadm.Client, probe func(...kgo.Opt) (*kgo.Client, error), groups []string, now time.Time) ([]Partition, error) {
	if len(groups) == 0 {
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		groups = listed.Groups()
	}
	var out []Partition
	topics := map[string]bool{}
	for _, g := range groups {
		fetched, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("fetch offsets of %s: %w", g, err)
		}
		fetched.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil {
				return
			}
			topics[o.Topic] = true
			out = append(out, Partition{Group: g, Topic: o.Topic, Partition: o.Partition, Committed: o.At, End: -1})
		})
	}
	if len(out) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	ends, err := adm.ListCommittedOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list last stable offsets: %w", err)
	}
	var waiting []*Partition
	for i := range out {
		p := &out[i]
		if e, ok := ends.Lookup(p.Topic, p.Partition); ok && e.Err == nil {
			p.End = e.Offset
		}
		p.Records = Records(max(p.Committed, 0), p.End)
		if p.Records > 0 && p.Committed >= 0 {
			waiting = append(waiting, p)
		}
	}
	if probe != nil && len(waiting) > 0 {
		if err := probeWaiting(ctx, probe, waiting, now); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b Partition) int {
		if c := strings.Compare(a.Group, b.Group); c != 0 {
			return c
		}
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return out, nil
}

// exactLimit is the largest offset difference that the probe reads through
// to count waiting data records exactly; beyond it the difference stands
// (transaction markers included) and only the oldest record is read.
const exactLimit = 20000

type probeState struct {
	*Partition
	count int64     // data records seen in [Committed, End)
	first time.Time // timestamp of the first of them
	done  bool
}

// probeWaiting reads each waiting partition from its committed offset,
// read_committed with markers kept: up to the end it counts the data
// records waiting (a range of only markers or aborted records is lag 0),
// and the first one's age is the lag in seconds. Partitions further behind
// than exactLimit stop at their first data record; partitions it cannot
// settle within the probe's time keep the plain offset difference.
func probeWaiting(ctx context.Context, probe func(...kgo.Opt) (*kgo.Client, error), waiting []*Partition, now time.Time) error {
	type key struct {
		topic string
		part  int32
	}
	states := map[key][]*probeState{} // one read serves every group on a partition
	start := map[string]map[int32]kgo.Offset{}
	for _, p := range waiting {
		k := key{p.Topic, p.Partition}
		if start[p.Topic] == nil {
			start[p.Topic] = map[int32]kgo.Offset{}
		}
		if o, ok := start[p.Topic][p.Partition]; !ok || o.EpochOffset().Offset > p.Committed {
			start[p.Topic][p.Partition] = kgo.NewOffset().At(p.Committed)
		}
		states[k] = append(states[k], &probeState{Partition: p})
	}
	left := len(waiting)
	finish := func(st *probeState, reachedEnd bool) {
		if st.done {
			return
		}
		st.done = true
		left--
		if reachedEnd {
			st.Records = st.count
		}
		st.Seconds = Seconds(st.Records, st.first, now)
	}
	cl, err := probe(
		kgo.ConsumePartitions(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(8<<20),
		kgo.FetchMaxPartitionBytes(1<<20),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		var fatal error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				fatal = err
			}
		})
		if fatal != nil {
			return fmt.Errorf("read waiting records: %w", fatal)
		}
		fs.EachRecord(func(r *kgo.Record) {
			for _, st := range states[key{r.Topic, r.Partition}] {
				if st.done || r.Offset < st.Committed {
					continue
				}
				if r.Offset >= st.End {
					finish(st, true)
					continue
				}
				if !r.Attrs.IsControl() {
					if st.count == 0 {
						st.first = r.Timestamp
					}
					st.count++
					if st.Records > exactLimit {
						finish(st, false)
						continue
					}
				}
				if r.Offset+1 >= st.End {
					finish(st, true)
				}
			}
		})
	}
	for _, sts := range states {
		for _, st := range sts {
			finish(st, false) // unsettled: the offset difference stands
		}
	}
	return nil
}
