package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// groups are the consumer groups of the pipeline: short name → group id.
func groups(prefix string) map[string]string {
	out := map[string]string{}
	for _, g := range []string{"order-processor", "inventory-processor", "order-sink", "order-projector", "catalog-projector"} {
		out[g] = prefix + g
	}
	return out
}

// lagSample is every group's total lag at one time.
type lagSample struct {
	at  time.Duration
	lag map[string]int64
}

// lagSampler samples the consumer lag of every group once a second
// (records: committed offset to the high watermark).
type lagSampler struct {
	adm    *kadm.Client
	start  time.Time
	groups map[string]string

	mu      sync.Mutex
	samples []lagSample
}

func (l *lagSampler) sample(ctx context.Context) (map[string]int64, error) {
	ids := make([]string, 0, len(l.groups))
	for _, id := range l.groups {
		ids = append(ids, id)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lags, err := l.adm.Lag(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for name, id := range l.groups {
		g, ok := lags[id]
		if !ok || g.Error() != nil {
			return nil, fmt.Errorf("lag of %s: %w", id, errors.Join(errors.New("no answer"), g.Error()))
		}
		if err := measurable(g); err != nil {
			return nil, err
		}
		out[name] = g.Lag.Total()
	}
	return out, nil
}

// measurable: kadm computes a group's lag from its members' assignments,
// so a group in the middle of a rebalance has none and would read 0.
func measurable(g kadm.DescribedGroupLag) error {
	if g.State != "Stable" || g.Lag.IsEmpty() {
		return fmt.Errorf("lag of %s: group %s with %d partitions assigned", g.Group, g.State, len(g.Lag))
	}
	return nil
}

// caughtUp reports whether every partition of every group is at most one
// offset behind its high watermark: a consumer of a transactional topic
// that read everything sits on the last commit marker.
func (l *lagSampler) caughtUp(ctx context.Context) (bool, map[string]int64, error) {
	ids := make([]string, 0, len(l.groups))
	for _, id := range l.groups {
		ids = append(ids, id)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lags, err := l.adm.Lag(ctx, ids...)
	if err != nil {
		return false, nil, err
	}
	ok, totals := true, map[string]int64{}
	for name, id := range l.groups {
		g, found := lags[id]
		if !found || g.Error() != nil {
			return false, nil, fmt.Errorf("lag of %s: %w", id, errors.Join(errors.New("no answer"), g.Error()))
		}
		if err := measurable(g); err != nil {
			return false, nil, err
		}
		totals[name] = g.Lag.Total()
		for _, ps := range g.Lag {
			for _, p := range ps {
				if p.Err != nil || p.Lag > 1 {
					ok = false
				}
			}
		}
	}
	return ok, totals, nil
}

func (l *lagSampler) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if m, err := l.sample(ctx); err == nil {
			l.mu.Lock()
			l.samples = append(l.samples, lagSample{at: time.Since(l.start), lag: m})
			l.mu.Unlock()
		}
	}
}

func (l *lagSampler) last() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) == 0 {
		return map[string]int64{}
	}
	return l.samples[len(l.samples)-1].lag
}

// waitSettled waits until every group has caught up (caughtUp) with the
// same lag in three samples in a row.
func (l *lagSampler) waitSettled(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	calm := 0
	var last map[string]int64
	var lastErr error
	for calm < 3 {
		if time.Now().After(deadline) {
			return fmt.Errorf("not settled after %s: lag %v: %w", timeout, last, errors.Join(errors.New("timeout"), lastErr))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		ok, m, err := l.caughtUp(ctx)
		if err != nil {
			lastErr, calm = err, 0
			continue
		}
		if ok && fmt.Sprint(m) == fmt.Sprint(last) {
			calm++
		} else {
			calm = 0
		}
		last = m
	}
	return nil
}

// LagStats sums up the lag samples.
type LagStats struct {
	PeakOrder     int64         // highest order-processor lag (records)
	PeakOrderAt   time.Duration // when
	PeakInventory int64
	PeakSink      int64
	Drain         time.Duration // burst end → order-processor and inventory-processor lag back to normal; -1 if never during traffic
	DrainBelow    int64         // "normal": the threshold used
}

func (l *lagSampler) stats(w Workload) LagStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := LagStats{Drain: -1, DrainBelow: max(100, int64(w.Rate))}
	end := w.BurstEnd()
	for _, s := range l.samples {
		if v := s.lag["order-processor"]; v > st.PeakOrder {
			st.PeakOrder, st.PeakOrderAt = v, s.at
		}
		st.PeakInventory = max(st.PeakInventory, s.lag["inventory-processor"])
		st.PeakSink = max(st.PeakSink, s.lag["order-sink"])
		if w.BurstFor > 0 && st.Drain < 0 && s.at >= end && s.lag["order-processor"] <= st.DrainBelow && s.lag["inventory-processor"] <= st.DrainBelow {
			st.Drain = s.at - end
		}
	}
	return st
}
