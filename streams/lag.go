package streams

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/orderpipe/orderpipe/pkg/lag"
)

// lagTracker exports consumer lag per owned input partition, in records and
// seconds. The position is the offset after the last record the processor
// consumed, control records (transaction markers) included: the processor
// consumes them (kgo.KeepControlRecords), so a caught-up consumer of a
// transactional topic sits exactly at the last stable offset and reads 0,
// not the 1 per partition that high-watermark arithmetic on committed
// offsets shows. The gauges are pkg/lag's orderpipe_consumer_lag_records
// and _seconds — the family `orderpipe lag`, the dashboards, the alerts and
// KEDA read.
type lagTracker struct {
	gauges *lag.Gauges

	mu    sync.Mutex
	parts map[tp]*lagState
}

type tp struct {
	topic     string
	partition int32
}

type lagState struct {
	pos    int64     // next offset to consume; -1 unknown
	end    int64     // last stable offset last seen; -1 unknown
	lastTS time.Time // timestamp of the last consumed data record
	recs   prometheus.Gauge
	secs   prometheus.Gauge
}

func newLagTracker(g *lag.Gauges) *lagTracker {
	return &lagTracker{gauges: g, parts: map[tp]*lagState{}}
}

func (l *lagTracker) state(topic string, partition int32) *lagState {
	k := tp{topic, partition}
	s := l.parts[k]
	if s == nil {
		s = &lagState{pos: -1, end: -1}
		s.recs, s.secs = l.gauges.Partition(topic, partition)
		l.parts[k] = s
	}
	return s
}

// start records where consuming a newly owned partition starts.
func (l *lagTracker) start(topic string, partition int32, pos int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state(topic, partition)
	s.pos = pos
}

// observe records a processed batch: pos is the offset after its last
// record, end the partition's last stable offset from the same fetch.
func (l *lagTracker) observe(topic string, partition int32, pos, end int64, lastTS, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state(topic, partition)
	s.pos = pos
	if end > s.end {
		s.end = end
	}
	if !lastTS.IsZero() {
		s.lastTS = lastTS
	}
	s.export(now)
}

func (s *lagState) export(now time.Time) {
	if s.pos < 0 || s.end < 0 {
		return
	}
	behind := lag.Records(s.pos, s.end)
	s.recs.Set(float64(behind))
	s.secs.Set(lag.Seconds(behind, s.lastTS, now))
}

// forget stops exporting a partition the processor no longer owns.
func (l *lagTracker) forget(topic string, partition int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := tp{topic, partition}
	if _, ok := l.parts[k]; ok {
		l.gauges.Forget(topic, partition)
		delete(l.parts, k)
	}
}

// refresh reads the last stable offsets of the owned partitions, so lag
// keeps growing on the dashboards even while the loop is stuck or idle.
func (l *lagTracker) refresh(ctx context.Context, adm *kadm.Client, now time.Time) {
	l.mu.Lock()
	topics := map[string]bool{}
	for k := range l.parts {
		topics[k.topic] = true
	}
	l.mu.Unlock()
	if len(topics) == 0 {
		return
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	ends, err := adm.ListCommittedOffsets(ctx, names...)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			return
		}
		if s, ok := l.parts[tp{o.Topic, o.Partition}]; ok {
			if o.Offset > s.end {
				s.end = o.Offset
			}
			s.export(now)
		}
	})
}

// lag returns the records lag of a partition (for tests).
func (l *lagTracker) lag(topic string, partition int32) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.parts[tp{topic, partition}]
	if !ok || s.pos < 0 || s.end < 0 {
		return 0, false
	}
	return max(s.end-s.pos, 0), true
}
