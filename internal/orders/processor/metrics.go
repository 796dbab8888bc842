package processor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderpipe/orderpipe/internal/orders/saga"
	"github.com/orderpipe/orderpipe/schemas"
)

// metrics are the saga's own (namespace orderpipe, subsystem saga). They
// count work as it is handled: an input processed again after an aborted
// transaction counts again.
type metrics struct {
	requests *prometheus.CounterVec   // outcome: new, duplicate, conflict, invalid
	outcomes *prometheus.CounterVec   // outcome, reason
	ignored  *prometheus.CounterVec   // input, reason
	held     prometheus.Counter       // cancels held for an order not seen yet
	expired  *prometheus.CounterVec   // store
	duration *prometheus.HistogramVec // outcome
}

func newMetrics() *metrics {
	const ns, sub = "orderpipe", "saga"
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Order requests by admission: new (placed), duplicate (a retry, dropped), conflict (key reused with another body; recorded on the requests' DLQ topic), invalid (dead-lettered)."},
			[]string{"outcome"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "orders_finished_total",
			Help: "Orders that ended, by outcome (confirmed, rejected, cancelled) and rejection reason."},
			[]string{"outcome", "reason"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "ignored_total",
			Help: "Inputs that changed nothing: results for orders that ended, duplicate results, cancels of ended orders."},
			[]string{"input", "reason"}),
		held: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "cancels_held_total",
			Help: "Cancels that arrived before their order and were held for it."}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "expired_total",
			Help: "Entries dropped after the idempotency window, by store."},
			[]string{"store"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "order_seconds",
			Help:    "Time from placing an order to its outcome, by outcome.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800}},
			[]string{"outcome"}),
	}
	m.initSeries()
	return m
}

// initSeries creates every known label combination at zero, so rates,
// dashboards and alerts (orders timed out, conflicts) have a series from the
// start instead of only after the first such event.
func (m *metrics) initSeries() {
	for _, o := range []string{saga.New.String(), saga.Duplicate.String(), saga.Conflict.String(), "invalid"} {
		m.requests.WithLabelValues(o)
	}
	m.outcomes.WithLabelValues("confirmed", "")
	m.outcomes.WithLabelValues("cancelled", "")
	for _, r := range []string{schemas.ReasonInsufficientStock, schemas.ReasonUnknownProduct, schemas.ReasonInactiveProduct,
		schemas.ReasonCurrencyMismatch, schemas.ReasonTimeout} {
		m.outcomes.WithLabelValues("rejected", r)
	}
	for _, o := range []string{"confirmed", "rejected", "cancelled"} {
		m.duration.WithLabelValues(o)
	}
	for _, ir := range [][2]string{{"result", "order_not_pending"}, {"result", "duplicate"}, {"cancel", "order_ended"}, {"cancel", "already_held"}} {
		m.ignored.WithLabelValues(ir[0], ir[1])
	}
	for _, s := range []string{StoreOrders, StoreHeld} {
		m.expired.WithLabelValues(s)
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.outcomes, m.ignored, m.held, m.expired, m.duration}
}

func (m *metrics) finished(s saga.Saga, fx saga.Effects, now time.Time) {
	outcome, reason := "rejected", ""
	switch s.Status {
	case schemas.StatusConfirmed:
		outcome = "confirmed"
	case schemas.StatusCancelled:
		outcome = "cancelled"
	default:
		if n := len(fx.Events); n > 0 {
			reason = fx.Events[n-1].Reason
		}
	}
	m.outcomes.WithLabelValues(outcome, reason).Inc()
	m.duration.WithLabelValues(outcome).Observe(now.Sub(s.PlacedAt).Seconds())
}
