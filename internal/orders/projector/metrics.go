package projector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderpipe/orderpipe/pkg/lag"
)

type metrics struct {
	lag         *lag.Gauges
	writes      *prometheus.CounterVec
	undecodable prometheus.Counter
	retries     prometheus.Counter
	paused      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, group string) (*metrics, error) {
	l, err := lag.New(reg, group)
	if err != nil {
		return nil, err
	}
	m := &metrics{
		lag: l,
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderpipe_order_projector_writes_total",
			Help: "Order views written to Redis (result=written) or left alone because Redis already had that version or a newer one (result=stale)."}, []string{"result"}),
		undecodable: prometheus.NewCounter(prometheus.CounterOpts{Name: "orderpipe_order_projector_undecodable_total",
			Help: "orders.state.v1 records the projector skipped because they cannot be decoded (the sink dead-letters them)."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "orderpipe_order_projector_retries_total",
			Help: "Retries of a batch while Redis failed."}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{Name: "orderpipe_order_projector_paused",
			Help: "1 while the projector is waiting for Redis to come back."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.writes, m.undecodable, m.retries, m.paused} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) written(ok bool) {
	if ok {
		m.writes.WithLabelValues("written").Inc()
	} else {
		m.writes.WithLabelValues("stale").Inc()
	}
}
