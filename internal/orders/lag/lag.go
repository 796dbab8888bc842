// Package lag exports consumer lag, in records and in seconds, for the
// order-processor's consumers (the PostgreSQL sink, the status projector),
// computed from what each fetch says about its partition, so no admin calls
// are needed. SREs alert and KEDA scales on these gauges.
package lag

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Gauges are one consumer group's lag gauges. Several groups share the same
// metric families in one registry.
type Gauges struct {
	group   string
	records *prometheus.GaugeVec
	seconds *prometheus.GaugeVec
}

// New registers (or reuses) orderpipe_consumer_lag_records and
// orderpipe_consumer_lag_seconds with labels group, topic and partition.
func New(reg prometheus.Registerer, group string) (*Gauges, error) {
	records, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "orderpipe_consumer_lag_records",
		Help: "Records a consumer group has yet to process per partition: last stable offset minus the next offset to read, not counting the transaction marker (a caught-up reader of a transactional topic reads 0).",
	}, []string{"group", "topic", "partition"}))
	if err != nil {
		return nil, err
	}
	seconds, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "orderpipe_consumer_lag_seconds",
		Help: "Age of the last record a consumer group read per partition while it is behind; 0 when caught up.",
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

// Observe records a fetched partition's lag as of its last record.
func (g *Gauges) Observe(fp kgo.FetchTopicPartition, now time.Time) {
	if len(fp.Records) == 0 {
		return
	}
	last := fp.Records[len(fp.Records)-1]
	behind := max(0, fp.LastStableOffset-(last.Offset+1)-1)
	labels := []string{g.group, fp.Topic, strconv.Itoa(int(fp.Partition))}
	g.records.WithLabelValues(labels...).Set(float64(behind))
	age := 0.0
	if behind > 0 {
		age = max(0, now.Sub(last.Timestamp).Seconds())
	}
	g.seconds.WithLabelValues(labels...).Set(age)
}

// Forget drops a partition's gauges (revoked: another member reports it).
func (g *Gauges) Forget(topic string, partition int32) {
	labels := []string{g.group, topic, strconv.Itoa(int(partition))}
	g.records.DeleteLabelValues(labels...)
	g.seconds.DeleteLabelValues(labels...)
}
