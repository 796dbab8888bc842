package intake

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	outcomes      map[Outcome]prometheus.Counter
	produceOK     prometheus.Observer
	produceErr    prometheus.Observer
	inflight      prometheus.Gauge
	rejected      *prometheus.CounterVec
	redisErrors   prometheus.Counter
	lateFinalised prometheus.Counter
	backfill      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderpipe_intake_idempotency_total",
		Help: "Order requests by idempotency outcome: new, replay, conflict, in_flight, degraded (Redis unavailable).",
	}, []string{"outcome"})
	produce := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "orderpipe_intake_produce_duration_seconds",
		Help:    "Time from produce to Kafka's acknowledgement (acks=all) of intake records, by result.",
		Buckets: []float64{.0005, .001, .002, .004, .008, .016, .032, .064, .128, .256, .512, 1, 2, 4, 8},
	}, []string{"result"})
	m := &metrics{
		outcomes:   map[Outcome]prometheus.Counter{},
		produceOK:  produce.WithLabelValues("ok"),
		produceErr: produce.WithLabelValues("error"),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orderpipe_intake_produce_in_flight", Help: "Intake records produced and not yet acknowledged.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderpipe_intake_rejected_total",
			Help: "Requests refused before or by Kafka: rate_limited, scope_rate_limited, overloaded (bulkhead full), breaker_open, kafka_timeout, kafka_error.",
		}, []string{"reason"}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderpipe_intake_redis_errors_total", Help: "Failed Redis calls of the idempotency fast path.",
		}),
		lateFinalised: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderpipe_intake_late_acks_total", Help: "Produce results that arrived after the request was answered 503.",
		}),
		backfill: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderpipe_intake_backfill_total",
			Help: "Idempotency records of orders accepted in degraded mode: queued, written once Redis answered, dropped (queue full).",
		}, []string{"result"}),
	}
	for _, r := range []string{"queued", "written", "dropped"} {
		m.backfill.WithLabelValues(r)
	}
	for _, o := range []Outcome{OutcomeNew, OutcomeReplay, OutcomeConflict, OutcomeInFlight, OutcomeDegraded} {
		m.outcomes[o] = outcomes.WithLabelValues(string(o))
	}
	for _, r := range []string{"rate_limited", "scope_rate_limited", "overloaded", "breaker_open", "kafka_timeout", "kafka_error"} {
		m.rejected.WithLabelValues(r)
	}
	reg.MustRegister(outcomes, produce, m.inflight, m.rejected, m.redisErrors, m.lateFinalised, m.backfill)
	return m
}
