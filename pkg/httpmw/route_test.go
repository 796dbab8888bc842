package httpmw_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderpipe/orderpipe/pkg/httpmw"
)

// TestRouteLabel: Chain wraps the router, so only TagRoute (a router
// middleware) can tell it the matched route: requests are labelled by path
// template, unmatched paths "unmatched".
func TestRouteLabel(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := mux.NewRouter()
	r.Use(httpmw.TagRoute)
	r.HandleFunc("/api/v1/orders/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }).Methods("GET")
	h := httpmw.Chain(r, httpmw.NewMetrics(reg), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, p := range []string{"/api/v1/orders/a", "/api/v1/orders/b", "/nope"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "orderpipe_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got[strings.Join(labels, ",")] = m.GetCounter().GetValue()
		}
	}
	if got["code=200,method=GET,route=/api/v1/orders/{id}"] != 2 || got["code=404,method=GET,route=unmatched"] != 1 {
		t.Fatalf("requests by labels: %v", got)
	}
}

// TestSpanNamedByRoute: a sampled request's server span is named
// "{method} {route}" with the route template, not the raw path (which
// would give every order id its own span name).
func TestSpanNamedByRoute(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	r := mux.NewRouter()
	r.Use(httpmw.TagRoute)
	r.HandleFunc("/api/v1/orders/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }).Methods("GET")
	h := httpmw.Chain(r, httpmw.NewMetrics(prometheus.NewRegistry()), tp.Tracer("t"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/orders/abc", nil))
	if w.Header().Get(httpmw.CorrelationHeader) == "" {
		t.Error("no correlation id echoed")
	}
	spans := sr.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans ended, want 1", len(spans))
	}
	if got := spans[0].Name(); got != "GET /api/v1/orders/{id}" {
		t.Errorf("span name %q", got)
	}
	var route string
	var code int64
	for _, a := range spans[0].Attributes() {
		switch a.Key {
		case "http.route":
			route = a.Value.AsString()
		case "http.response.status_code":
			code = a.Value.AsInt64()
		}
	}
	if route != "/api/v1/orders/{id}" || code != http.StatusAccepted {
		t.Errorf("http.route %q, status %d", route, code)
	}
}
