// Package lag is orderpipe's one definition of consumer lag (design
// decision 11): the computation — a consumer's position against the
// partition's last stable offset, not counting transaction markers, so a
// caught-up read_committed consumer of a transactional topic reads 0 — and
// the one metric family that the processors, the `orderpipe lag --serve`
// exporter, the dashboards, the alerts and KEDA all read:
//
//	orderpipe_consumer_lag_records{group,topic,partition}
//	orderpipe_consumer_lag_seconds{group,topic,partition}
package lag

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Metric family names.
const (
	RecordsMetric = "orderpipe_consumer_lag_records"
	SecondsMetric = "orderpipe_consumer_lag_seconds"
)

// Records is the lag in records of a consumer whose next offset to read is
// pos on a partition whose last stable offset is end (never negative).
// Callers that know the range [pos, end) holds only transaction markers or
// aborted records pass pos = end (see Observe and Probe).
func Records(pos, end int64) int64 {
	if pos < 0 || end < 0 {
		return 0
	}
	return max(0, end-pos)
}

// Seconds estimates time lag: the age at now of the oldest record not yet
// processed (or, for a consumer that only knows what it processed, of the
// last processed record), 0 when nothing is waiting.
func Seconds(records int64, ts, now time.Time) float64 {
	if records <= 0 || ts.IsZero() {
		return 0
	}
	return max(0, now.Sub(ts).Seconds())
}

// Gauges are one consumer group's lag gauges. Several groups share the same
// metric families in one registry.
type Gauges struct {
	group   string
	records *prometheus.GaugeVec
	seconds *prometheus.GaugeVec
}

// New registers (or reuses) the lag families in reg (nil: unregistered)
// and returns group's gauges.
func New(reg prometheus.Registerer, group string) (*Gauges, error) {
	records, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: RecordsMetric,
		Help: "Records a consumer group has yet to process per partition: last stable offset minus the consumer's position, transaction markers not counted (a caught-up reader of a transactional topic reads 0).",
	}, []string{"group", "topic", "partition"}))
	if err != nil {
		return nil, err
	}
	seconds, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: SecondsMetric,
		Help: "Estimated time lag per partition while a consumer group is behind (age of the oldest waiting or last processed record); 0 when caught up.",
	}, []string{"group", "topic", "partition"}))
	if err != nil {
		return nil, err
	}
	return &Gauges{group: group, records: records, seconds: seconds}, nil
}

func register(reg prometheus.Registerer, g *prometheus.GaugeVec) (*prometheus.GaugeVec, error) {
	if reg == nil {
		return g, nil
	}
	if err := reg.Register(g); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.GaugeVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return g, nil
}

// Partition returns a partition's two gauges (for callers that keep them).
func (g *Gauges) Partition(topic string, partition int32) (records, seconds prometheus.Gauge) {
	labels := []string{g.group, topic, strconv.Itoa(int(partition))}
	return g.records.WithLabelValues(labels...), g.seconds.WithLabelValues(labels...)
}

// Set sets a partition's lag.
func (g *Gauges) Set(topic string, partition int32, records int64, seconds float64) {
	r, s := g.Partition(topic, partition)
	r.Set(float64(records))
	s.Set(seconds)
}

// Observe records a fetched partition's lag as of its last record, for a
// consumer that does not keep control records: after a transactional
// record the transaction's commit marker takes one offset that the consumer
// never sees, so it is not counted.
func (g *Gauges) Observe(fp kgo.FetchTopicPartition, now time.Time) {
	if len(fp.Records) == 0 {
		return
	}
	last := fp.Records[len(fp.Records)-1]
	pos := last.Offset + 1
	if last.Attrs.IsTransactional() && fp.LastStableOffset > pos {
		pos++ // the marker
	}
	behind := Records(pos, fp.LastStableOffset)
	g.Set(fp.Topic, fp.Partition, behind, Seconds(behind, last.Timestamp, now))
}

// Forget drops a partition's gauges (revoked: another member reports it).
func (g *Gauges) Forget(topic string, partition int32) {
	labels := []string{g.group, topic, strconv.Itoa(int(partition))}
	g.records.DeleteLabelValues(labels...)
	g.seconds.DeleteLabelValues(labels...)
}
