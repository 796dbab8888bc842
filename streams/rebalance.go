package streams

import (
	"context"
	"fmt"
	"time"
)

// drain handles the group events queued since the last call. A revocation
// or loss ends the open transaction with an abort first (its records will
// be processed again by whoever owns the partition next) and reports
// aborted, so the caller drops what it polled: the abort rewound the
// consumer, those records come again. An assignment restores the new tasks
// before any of their records is processed.
func (s *session) drain(ctx context.Context) (aborted bool, err error) {
	evs := s.events.drain()
	if len(evs) == 0 {
		return false, nil
	}
	assigned := map[string][]int32{}
	for _, ev := range evs {
		parts, _ := partitionsOf(ev.parts)
		s.log.Info("group "+ev.kind.String(), "partitions", parts)
		switch ev.kind {
		case evRevoked, evLost:
			if s.inTxn {
				ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.p.cfg.TransactionTimeout)
				err := s.abort(ectx, "rebalance")
				cancel()
				if err != nil {
					return true, err
				}
				aborted = true
			}
			for _, p := range parts {
				if t := s.tasks[p]; t != nil {
					delete(s.tasks, p)
					s.suspended[p] = t // kept: if p comes back, only the changelog's tail is read
				}
			}
			if ev.kind == evLost { // others may own them already: state is not ours to keep
				for p, t := range s.suspended {
					s.dropTask(p, t)
				}
			}
			clear(assigned)
		case evAssigned:
			for t, ps := range ev.parts {
				assigned[t] = append(assigned[t], ps...)
			}
		}
	}
	if len(assigned) > 0 {
		// Records polled for the new partitions came after the assignment,
		// from the committed offsets: once their tasks are restored they are
		// processed like any other. (Dropping them would lose them: the
		// consumer's position is already past them.)
		if err := s.assign(ctx, assigned); err != nil {
			return true, err
		}
	}
	s.th.tasks.Store(int32(len(s.tasks)))
	s.p.metrics.tasks.WithLabelValues(s.p.groupID).Set(float64(s.p.Tasks()))
	return aborted, nil
}

func (s *session) assign(ctx context.Context, assigned map[string][]int32) error {
	parts, same := partitionsOf(assigned)
	if !same || len(assigned) != len(s.p.topo.topics()) {
		return &fatalError{fmt.Errorf("group %s assigned partitions that are not co-partitioned: %v (all topics must have the same partition count and every member the same subscription)", s.p.groupID, assigned)}
	}
	var fresh, resumed []*Task
	keep := map[int32]bool{}
	for _, p := range parts {
		keep[p] = true
		if s.tasks[p] != nil {
			continue
		}
		if t := s.suspended[p]; t != nil {
			delete(s.suspended, p)
			resumed = append(resumed, t)
			continue
		}
		t, err := s.openTask(p)
		if err != nil {
			return err
		}
		fresh = append(fresh, t)
	}
	for p, t := range s.suspended {
		if !keep[p] {
			s.dropTask(p, t)
		}
	}
	s.th.ready.Store(false)
	start := time.Now()
	if err := s.restore(ctx, fresh, resumed); err != nil {
		for _, t := range fresh {
			t.close()
		}
		for _, t := range resumed {
			t.close()
		}
		return err
	}
	for _, t := range append(fresh, resumed...) {
		s.tasks[t.partition] = t
		t.m.restore.Observe(time.Since(start).Seconds())
	}
	s.th.ready.Store(true)
	s.log.Info("tasks ready", "fresh", len(fresh), "resumed", len(resumed), "restore", time.Since(start).String())
	return nil
}

func (s *session) openTask(p int32) (*Task, error) {
	t := newTask(s.env, p)
	t.m = s.p.metrics.forTask(s.p.groupID, p)
	for i, sd := range s.p.topo.stores {
		st, err := sd.open(p, s.p.changelogs[i], s.fail)
		if err != nil {
			t.close()
			return nil, err
		}
		t.stores = append(t.stores, st)
	}
	for _, td := range s.p.topo.tables {
		tb, err := td.open(p)
		if err != nil {
			t.close()
			return nil, err
		}
		t.tables = append(t.tables, tb)
	}
	return t, nil
}
