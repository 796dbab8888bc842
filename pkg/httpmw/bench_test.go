package httpmw_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/httpmw"
	"github.com/orderpipe/orderpipe/pkg/telemetry"
)

// discard is a ResponseWriter that keeps nothing but its header map.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkChain is what every request pays before its handler runs: the
// production router (with TagRoute) wrapped in Chain, tracing configured as
// the services configure it (no exporter: nothing sampled), against the
// same router without Chain.
func BenchmarkChain(b *testing.B) {
	tp, shutdown, err := telemetry.NewTracerProvider(context.Background(), config.Telemetry{SampleRatio: 0.01}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = shutdown(context.Background()) })
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	router := mux.NewRouter()
	router.Use(httpmw.TagRoute)
	router.HandleFunc("/api/v1/products/{id}", func(w http.ResponseWriter, r *http.Request) {
		_ = mux.Vars(r)["id"]
		w.WriteHeader(http.StatusOK)
	}).Methods(http.MethodGet)
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"router", router},
		{"router+chain", httpmw.Chain(router, httpmw.NewMetrics(prometheus.NewRegistry()), tp.Tracer("bench"), logger)},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/products/prod-00001", nil)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				c.h.ServeHTTP(w, req)
			}
		})
	}
}
