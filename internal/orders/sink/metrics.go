package sink

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/lag"
)

type metrics struct {
	lag         *lag.Gauges
	batches     prometheus.Counter
	records     prometheus.Counter
	orders      prometheus.Counter
	history     prometheus.Counter
	skipped     prometheus.Counter
	fenced      prometheus.Counter
	retries     prometheus.Counter
	deadLetters prometheus.Counter
	paused      prometheus.Gauge
	duration    prometheus.Histogram
	pollWait    prometheus.Histogram
	process     prometheus.Histogram
	positions   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, group string) (*metrics, error) {
	l, err := lag.New(reg, group)
	if err != nil {
		return nil, err
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "orderpipe_order_sink_" + name, Help: help})
	}
	m := &metrics{
		lag:         l,
		batches:     c("batches_total", "Transactions the PostgreSQL sink committed."),
		records:     c("records_total", "Kafka records the sink committed (orders.state.v1 and orders.events.v1)."),
		orders:      c("orders_written_total", "orders rows inserted or moved to a newer version."),
		history:     c("status_changes_total", "order_status_history rows inserted."),
		skipped:     c("records_skipped_total", "Records with nothing to write (unknown event types, tombstones)."),
		fenced:      c("fenced_total", "Partitions whose batch was refused because the stored offset had moved (another sink wrote them)."),
		retries:     c("retries_total", "Retries while PostgreSQL (or Kafka, for dead letters) failed."),
		deadLetters: c("dead_letters_total", "Records sent to a dead-letter topic."),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{Name: "orderpipe_order_sink_paused",
			Help: "1 while the sink is waiting for PostgreSQL to come back."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orderpipe_order_sink_batch_seconds",
			Help: "Time from poll to commit of a sink transaction.", Buckets: prometheus.ExponentialBuckets(0.002, 2, 14)}),
		pollWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orderpipe_order_sink_poll_wait_seconds",
			Help: "Time the sink waited for records in a poll (long waits: caught up; short: busy).", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}),
		process: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orderpipe_order_sink_poll_process_seconds",
			Help: "Time the sink took to write one poll (decode, all lanes' transactions).", Buckets: prometheus.ExponentialBuckets(0.002, 2, 14)}),
		positions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orderpipe_order_sink_position",
			Help: "Next offset stored in PostgreSQL per partition."}, []string{"topic", "partition"}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.batches, m.records, m.orders, m.history, m.skipped, m.fenced,
			m.retries, m.deadLetters, m.paused, m.duration, m.pollWait, m.process, m.positions} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) batch(b Batch, res Result, took time.Duration) {
	m.batches.Inc()
	m.records.Add(float64(b.Records))
	m.orders.Add(float64(res.Orders))
	m.history.Add(float64(res.History))
	m.skipped.Add(float64(b.Skipped))
	if took > 0 {
		m.duration.Observe(took.Seconds())
	}
}

func (m *metrics) position(tp TP, next int64) {
	m.positions.WithLabelValues(tp.Topic, strconv.Itoa(int(tp.Partition))).Set(float64(next))
}

func (m *metrics) observeLag(fp kgo.FetchTopicPartition) { m.lag.Observe(fp, time.Now()) }

func (m *metrics) forget(topic string, partition int32) {
	m.lag.Forget(topic, partition)
	m.positions.DeleteLabelValues(topic, strconv.Itoa(int(partition)))
}
