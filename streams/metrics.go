package streams

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names (namespace orderpipe_streams). Every metric has a group
// label; per-task metrics also a partition label.
type metrics struct {
	recordsIn    *prometheus.CounterVec   // group, partition
	recordsOut   *prometheus.CounterVec   // group, partition
	dlq          *prometheus.CounterVec   // group, partition, reason
	commitSecs   *prometheus.HistogramVec // group, partition
	txnRecords   *prometheus.HistogramVec // group, partition
	commits      *prometheus.CounterVec   // group
	aborts       *prometheus.CounterVec   // group, reason
	restoreSecs  *prometheus.HistogramVec // group, partition
	restoreRecs  *prometheus.CounterVec   // group, partition, store
	tasks        *prometheus.GaugeVec     // group
	sessions     *prometheus.CounterVec   // group
	punctuations *prometheus.CounterVec   // group
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "orderpipe", "streams"
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &metrics{
		recordsIn:    counter("records_in_total", "Input records processed per task (committed or not).", "group", "partition"),
		recordsOut:   counter("records_out_total", "Output records produced per task in committed transactions (outputs, DLQ; changelog writes excluded).", "group", "partition"),
		dlq:          counter("dlq_records_total", "Records sent to a dead-letter queue per task and reason.", "group", "partition", "reason"),
		commitSecs:   hist("txn_commit_seconds", "Time to flush and commit a transaction, observed per participating task.", prometheus.ExponentialBuckets(0.001, 2, 14), "group", "partition"),
		txnRecords:   hist("txn_records", "Records (in + out + changelog) of a task in one committed transaction.", prometheus.ExponentialBuckets(1, 4, 10), "group", "partition"),
		commits:      counter("txn_commits_total", "Committed transactions.", "group"),
		aborts:       counter("txn_aborts_total", "Aborted transactions by reason (rebalance, produce_error, end_error, shutdown, unowned).", "group", "reason"),
		restoreSecs:  hist("restore_seconds", "Time to restore a task's stores and tables before it processes records.", prometheus.ExponentialBuckets(0.01, 2, 14), "group", "partition"),
		restoreRecs:  counter("restore_records_total", "Changelog and table records applied during restores.", "group", "partition", "store"),
		tasks:        gauge("tasks", "Tasks (partitions) this instance owns.", "group"),
		sessions:     counter("client_recreations_total", "Kafka clients recreated after a non-retriable error (fencing, failed EndTxn).", "group"),
		punctuations: counter("punctuations_total", "Punctuator runs (per task).", "group"),
	}
	if reg != nil {
		reg.MustRegister(m.recordsIn, m.recordsOut, m.dlq, m.commitSecs, m.txnRecords, m.commits, m.aborts,
			m.restoreSecs, m.restoreRecs, m.tasks, m.sessions, m.punctuations)
	}
	return m
}

// abortReasons are the reasons transactions abort with.
var abortReasons = []string{"rebalance", "produce_error", "end_error", "unowned", "encode_error", "flush_error", "shutdown"}

// initGroup creates a group's commit and abort series at 0, so rates and
// alerts read 0 before the first abort instead of nothing.
func (m *metrics) initGroup(group string) {
	m.commits.WithLabelValues(group)
	for _, r := range abortReasons {
		m.aborts.WithLabelValues(group, r)
	}
}

// taskMetrics are a task's pre-resolved metric children.
type taskMetrics struct {
	in, out    prometheus.Counter
	commitSecs prometheus.Observer
	txnRecords prometheus.Observer
	restore    prometheus.Observer
}

func (m *metrics) forTask(group string, partition int32) *taskMetrics {
	p := strconv.Itoa(int(partition))
	return &taskMetrics{
		in:         m.recordsIn.WithLabelValues(group, p),
		out:        m.recordsOut.WithLabelValues(group, p),
		commitSecs: m.commitSecs.WithLabelValues(group, p),
		txnRecords: m.txnRecords.WithLabelValues(group, p),
		restore:    m.restoreSecs.WithLabelValues(group, p),
	}
}
