package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// restoreTarget is one partition to read into a task's store or table.
type restoreTarget struct {
	topic     string
	partition int32
	from      int64 // -1: from the log start
	end       int64 // last stable offset when the restore began
	apply     func(*kgo.Record) error
	done      func(end int64)
	label     string
	task      *Task
	n         int
}

// restore brings fresh tasks' stores and tables up to date from the start of
// their changelogs and table partitions, and resumed tasks (owned before the
// last rebalance, state kept) from where their state ends.
//
// Before reading, it waits until (1) the group's committed offsets of the
// tasks' inputs are stable — no transaction that commits offsets for them
// is still open, so none can add changelog records after we have read —
// and (2) each changelog partition's last stable offset equals its high
// watermark: the only writer of a task's changelog is the task's owner, now
// us, so an open transaction there belongs to a fenced or dead predecessor
// and is about to be aborted. Reading then stops at an end that nothing
// committed can pass.
func (s *session) restore(ctx context.Context, fresh, resumed []*Task) error {
	all := append(append([]*Task(nil), fresh...), resumed...)
	if len(all) == 0 {
		return nil
	}
	isFresh := map[*Task]bool{}
	for _, t := range fresh {
		isFresh[t] = true
	}
	committed, err := s.stableOffsets(ctx, all)
	if err != nil {
		return err
	}
	for _, t := range all {
		for _, topic := range s.p.topo.topics() {
			if o, ok := committed[topic][t.partition]; ok {
				s.p.lag.start(topic, t.partition, o)
			}
		}
	}
	if err := s.waitChangelogsStable(ctx, all); err != nil {
		return err
	}
	starts, ends, err := s.offsetRange(ctx)
	if err != nil {
		return err
	}
	var targets []*restoreTarget
	for _, t := range all {
		for _, st := range t.stores {
			from := int64(-1)
			if !isFresh[t] {
				from = st.nextOffset()
			}
			st := st
			targets = append(targets, &restoreTarget{
				topic: st.changelogTopic(), partition: t.partition, from: from, task: t, label: st.storeName(),
				apply: func(r *kgo.Record) error {
					if r.Attrs.IsControl() {
						return nil
					}
					return st.restore(r)
				},
				done: st.setNextOffset,
			})
		}
		for _, tb := range t.tables {
			from := int64(-1)
			if !isFresh[t] {
				from = tb.nextOffset()
			}
			tb := tb
			targets = append(targets, &restoreTarget{
				topic: tb.tableTopic(), partition: t.partition, from: from, task: t, label: tb.tableTopic(),
				apply: func(r *kgo.Record) error {
					if err := tb.apply(r); err != nil && isStoreError(err) {
						return err
					} else if err != nil {
						s.log.Warn("undecodable table record skipped in restore", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "error", err)
					}
					return nil
				},
				done: func(end int64) {
					if tb.nextOffset() < end {
						tb.setNextOffset(end)
					}
				},
			})
		}
	}
	for _, tg := range targets {
		end, ok := ends[tg.topic][tg.partition]
		if !ok {
			return fmt.Errorf("restore: no end offset for %s/%d", tg.topic, tg.partition)
		}
		tg.end = end
		if start := starts[tg.topic][tg.partition]; tg.from < start {
			tg.from = start // fresh, or our position was compacted or deleted away
		}
	}
	if err := s.consume(ctx, targets); err != nil {
		return err
	}
	for _, tg := range targets {
		tg.done(tg.end)
		s.p.metrics.restoreRecs.WithLabelValues(s.p.groupID, itoa(tg.partition), tg.label).Add(float64(tg.n))
	}
	return nil
}

// consume reads every target from its start to its end with the restore
// consumer (read_committed, markers kept, so the record at end-1 is always
// seen: it is a data record or a transaction marker).
func (s *session) consume(ctx context.Context, targets []*restoreTarget) error {
	pending := map[tp]*restoreTarget{}
	add := map[string]map[int32]kgo.Offset{}
	for _, tg := range targets {
		if tg.from >= tg.end {
			continue
		}
		off := kgo.NewOffset().At(tg.from)
		if add[tg.topic] == nil {
			add[tg.topic] = map[int32]kgo.Offset{}
		}
		add[tg.topic][tg.partition] = off
		pending[tp{tg.topic, tg.partition}] = tg
	}
	if len(pending) == 0 {
		return nil
	}
	s.rcl.AddConsumePartitions(add)
	defer func() {
		rm := map[string][]int32{}
		for k := range pending {
			rm[k.topic] = append(rm[k.topic], k.partition)
		}
		s.rcl.RemoveConsumePartitions(rm)
	}()
	const stall = time.Minute
	lastProgress := time.Now()
	for len(pending) > 0 {
		if time.Since(lastProgress) > stall {
			return fmt.Errorf("restore stalled for %s with %d partitions left", stall, len(pending))
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := s.rcl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fs.IsClientClosed() {
			return errors.New("restore consumer closed")
		}
		var ferr error
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || kerr.IsRetriable(err) {
				return
			}
			ferr = errors.Join(ferr, fmt.Errorf("restore fetch %s/%d: %w", topic, p, err))
		})
		if ferr != nil {
			return ferr
		}
		var aerr error
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			k := tp{ftp.Topic, ftp.Partition}
			tg := pending[k]
			if tg == nil || aerr != nil {
				return
			}
			for _, r := range ftp.Records {
				if r.Offset >= tg.end {
					break
				}
				if err := tg.apply(r); err != nil {
					aerr = err
					return
				}
				if !r.Attrs.IsControl() {
					tg.n++
				}
				lastProgress = time.Now()
				if r.Offset >= tg.end-1 {
					break
				}
			}
			if last := ftp.Records; len(last) > 0 && last[len(last)-1].Offset >= tg.end-1 {
				delete(pending, k)
				s.rcl.RemoveConsumePartitions(map[string][]int32{k.topic: {k.partition}})
			}
		})
		if aerr != nil {
			return aerr
		}
	}
	return nil
}

// stableOffsets waits until the group's committed offsets of the tasks'
// partitions are stable (no open transaction holds offsets for them) and
// returns them.
func (s *session) stableOffsets(ctx context.Context, tasks []*Task) (map[string]map[int32]int64, error) {
	want := map[int32]bool{}
	for _, t := range tasks {
		want[t.partition] = true
	}
	deadline := time.Now().Add(s.p.cfg.TransactionTimeout + s.p.cfg.SessionTimeout + 10*time.Second)
	for {
		resps, err := s.adm.FetchOffsetsForTopics(kadm.RequireStable(ctx), s.p.groupID, s.p.topo.topics()...)
		unstable := errors.Is(err, kerr.UnstableOffsetCommit)
		out := map[string]map[int32]int64{}
		if err == nil {
			resps.Each(func(o kadm.OffsetResponse) {
				if !want[o.Partition] {
					return
				}
				if errors.Is(o.Err, kerr.UnstableOffsetCommit) {
					unstable = true
					return
				}
				if o.Err == nil && o.At >= 0 {
					if out[o.Topic] == nil {
						out[o.Topic] = map[int32]int64{}
					}
					out[o.Topic][o.Partition] = o.At
				}
			})
			if !unstable {
				return out, nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = kerr.UnstableOffsetCommit
			}
			return nil, fmt.Errorf("committed offsets of %s did not become stable: %w", s.p.groupID, err)
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

// waitChangelogsStable waits until no transaction is open on the tasks'
// changelog partitions (last stable offset = high watermark).
func (s *session) waitChangelogsStable(ctx context.Context, tasks []*Task) error {
	if len(s.p.changelogs) == 0 {
		return nil
	}
	want := map[int32]bool{}
	for _, t := range tasks {
		want[t.partition] = true
	}
	deadline := time.Now().Add(s.p.cfg.TransactionTimeout + 15*time.Second)
	for {
		hw, err1 := s.adm.ListEndOffsets(ctx, s.p.changelogs...)
		lso, err2 := s.adm.ListCommittedOffsets(ctx, s.p.changelogs...)
		if err := errors.Join(err1, err2); err == nil {
			open := 0
			hw.Each(func(o kadm.ListedOffset) {
				if !want[o.Partition] {
					return
				}
				l, ok := lso.Lookup(o.Topic, o.Partition)
				if o.Err != nil || !ok || l.Err != nil || l.Offset != o.Offset {
					open++
				}
			})
			if open == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d changelog partitions of %s still have an open transaction", open, s.p.groupID)
			}
		} else if time.Now().After(deadline) {
			return fmt.Errorf("list changelog offsets: %w", err)
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// offsetRange lists the log start and last stable offsets of the
// changelogs and tables.
func (s *session) offsetRange(ctx context.Context) (starts, ends map[string]map[int32]int64, err error) {
	topics := append([]string(nil), s.p.changelogs...)
	for _, tb := range s.p.topo.tables {
		topics = append(topics, tb.tableTopic())
	}
	if len(topics) == 0 {
		return nil, nil, nil
	}
	so, err1 := s.adm.ListStartOffsets(ctx, topics...)
	lso, err2 := s.adm.ListCommittedOffsets(ctx, topics...)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, fmt.Errorf("list offsets: %w", err)
	}
	var errs []error
	collect := func(l kadm.ListedOffsets) map[string]map[int32]int64 {
		out := map[string]map[int32]int64{}
		l.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				errs = append(errs, fmt.Errorf("%s/%d: %w", o.Topic, o.Partition, o.Err))
				return
			}
			if out[o.Topic] == nil {
				out[o.Topic] = map[int32]int64{}
			}
			out[o.Topic][o.Partition] = o.Offset
		})
		return out
	}
	starts, ends = collect(so), collect(lso)
	return starts, ends, errors.Join(errs...)
}
