package streams

import (
	"context"
	"log/slog"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

type evKind int

const (
	evAssigned evKind = iota
	evRevoked
	evLost
)

func (k evKind) String() string {
	return [...]string{"assigned", "revoked", "lost"}[k]
}

type groupEvent struct {
	kind  evKind
	parts map[string][]int32
}

// eventQueue carries group callbacks (run on kgo's goroutines) to the
// processing loop. The callbacks only enqueue and wake the loop's poll: the
// loop ends transactions, never a callback.
type eventQueue struct {
	mu     sync.Mutex
	evs    []groupEvent
	wakeup context.CancelFunc
}

func (q *eventQueue) callback(kind evKind) func(context.Context, *kgo.Client, map[string][]int32) {
	return func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		cp := make(map[string][]int32, len(m))
		for t, ps := range m {
			cp[t] = append([]int32(nil), ps...)
		}
		q.mu.Lock()
		q.evs = append(q.evs, groupEvent{kind, cp})
		wake := q.wakeup
		q.mu.Unlock()
		if wake != nil {
			wake()
		}
	}
}

func (q *eventQueue) drain() []groupEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs := q.evs
	q.evs = nil
	return evs
}

// pollContext returns a context for one poll that an event cancels.
func (q *eventQueue) pollContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	q.mu.Lock()
	pending := len(q.evs) > 0
	q.wakeup = cancel
	q.mu.Unlock()
	if pending {
		cancel()
	}
	return ctx, func() {
		q.mu.Lock()
		q.wakeup = nil
		q.mu.Unlock()
		cancel()
	}
}

// partitionsOf returns the partition numbers of a callback's map, and
// whether every topic listed the same numbers (co-partitioned assignment).
func partitionsOf(m map[string][]int32) ([]int32, bool) {
	var first []int32
	same := true
	set := map[int32]bool{}
	for _, ps := range m {
		sorted := append([]int32(nil), ps...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		if first == nil {
			first = sorted
		} else if !equalInt32s(first, sorted) {
			same = false
		}
		for _, p := range ps {
			set[p] = true
		}
	}
	out := make([]int32, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, same
}

func equalInt32s(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// warnHandler keeps kgo's logs at warn and above: its transaction logs at
// info would log several lines per commit.
type warnHandler struct{ slog.Handler }

func (h warnHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return warnHandler{h.Handler.WithAttrs(as)}
}

func (h warnHandler) WithGroup(name string) slog.Handler {
	return warnHandler{h.Handler.WithGroup(name)}
}
