// Package httpmw holds the HTTP middleware every orderpipe service uses:
// panic recovery into a problem document, correlation ids, tracing, request
// metrics and the debug access log.
package httpmw

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderpipe/orderpipe/pkg/problem"
)

// CorrelationHeader carries a request's correlation id; it is echoed back.
const CorrelationHeader = "X-Correlation-Id"

// Metrics are the per-route HTTP metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight prometheus.Gauge
	cache    sync.Map // seriesKey → *series
}

// NewMetrics registers the HTTP metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderpipe_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orderpipe_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orderpipe_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.inflight)
	return m
}

// recorder records the status a handler wrote and, through TagRoute, the
// route it matched; one allocation per request carries both.
type recorder struct {
	http.ResponseWriter
	status int
	route  string
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// routeKey holds a request's *recorder: Chain wraps the router, so the
// matched route is only known inside it (TagRoute), not on Chain's request.
type routeKey struct{}

// TagRoute is a mux middleware (router.Use) that records the matched
// route's path template for Chain's metrics; without it every request is
// labelled route="unmatched".
func TagRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := r.Context().Value(routeKey{}).(*recorder); ok {
			rec.route = routeName(r)
		}
		next.ServeHTTP(w, r)
	})
}

func routeName(r *http.Request) string {
	if rec, ok := r.Context().Value(routeKey{}).(*recorder); ok && rec.route != "" {
		return rec.route
	}
	if cur := mux.CurrentRoute(r); cur != nil {
		if tpl, err := cur.GetPathTemplate(); err == nil {
			return tpl
		}
	}
	return "unmatched"
}

// series are a (route, method, code)'s metric children, resolved once:
// WithLabelValues hashes its labels on every call.
type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

type seriesKey struct {
	route, method string
	code          int
}

func (m *Metrics) series(route, method string, code int) *series {
	k := seriesKey{route, method, code}
	if s, ok := m.cache.Load(k); ok {
		return s.(*series)
	}
	s := &series{
		requests: m.requests.WithLabelValues(route, method, strconv.Itoa(code)),
		latency:  m.latency.WithLabelValues(route, method),
	}
	v, _ := m.cache.LoadOrStore(k, s)
	return v.(*series)
}

// Chain wraps h with recovery, correlation id, tracing, metrics and access log.
// tracer may be nil (no spans).
func Chain(h http.Handler, m *Metrics, tracer trace.Tracer, logger *slog.Logger) http.Handler {
	prop := otel.GetTextMapPropagator()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cid := r.Header.Get(CorrelationHeader)
		if cid == "" || len(cid) > 128 {
			cid = newID()
		}
		w.Header()[CorrelationHeader] = []string{cid}
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		var span trace.Span
		if tracer != nil {
			// Named by method now and by route once it is known (semconv's
			// "{method} {route}"), so an unsampled request builds no name.
			ctx, span = tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			if span.IsRecording() {
				span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("correlation.id", cid))
			}
		}
		rec := &recorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(ctx, routeKey{}, rec))
		m.inflight.Inc()
		defer func() {
			m.inflight.Dec()
			if p := recover(); p != nil {
				if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(p)
				}
				logger.ErrorContext(ctx, "panic serving request", "panic", p, "path", r.URL.Path)
				if rec.status == 0 {
					problem.Write(rec, r, problem.New(http.StatusInternalServerError, "", "internal error"))
				}
			}
			route := routeName(r)
			code := rec.status
			if code == 0 {
				code = http.StatusOK
			}
			d := time.Since(start)
			s := m.series(route, r.Method, code)
			s.requests.Inc()
			s.latency.Observe(d.Seconds())
			if span != nil && span.IsRecording() {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", code))
			}
			if logger.Enabled(ctx, slog.LevelDebug) {
				logger.DebugContext(ctx, "http", "method", r.Method, "path", r.URL.Path, "route", route,
					"status", code, "duration_ms", float64(d.Microseconds())/1000, "correlation_id", cid)
			}
		}()
		h.ServeHTTP(rec, r)
	})
}

// newID is a correlation id: 96 random bits, hex. Not a secret, so the
// runtime's per-thread ChaCha8 generator (math/rand/v2) serves.
func newID() string {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64()) //nolint:gosec // a correlation id, not a secret
	binary.LittleEndian.PutUint32(b[8:], rand.Uint32()) //nolint:gosec // a correlation id, not a secret
	return hex.EncodeToString(b[:])
}
