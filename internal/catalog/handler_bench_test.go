package catalog

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/health"
	"github.com/orderpipe/orderpipe/pkg/httpmw"
	"github.com/orderpipe/orderpipe/pkg/telemetry"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// BenchmarkDetailHandlerL1Hit is one L1-hit product read through the
// production router and middleware, in process (no sockets): the cost
// catalog-api adds on top of net/http's.
func BenchmarkDetailHandlerL1Hit(b *testing.B) {
	if os.Getenv("REDIS_URL") == "" {
		b.Skip("needs a real Redis (REDIS_URL)")
	}
	re := testenv.Redis(b)
	rc := config.Redis{URL: re.URL, KeyPrefix: re.Prefix}
	seedRedis(b, rc, 10)
	kc := config.Kafka{Brokers: []string{"127.0.0.1:9"}, ClientID: "bench", OrderPartitions: 12, ProductPartitions: 12, ReplicationFactor: 1, MinInsyncReplicas: 1}
	cfg := testConfig(kc, rc)
	cfg.Projector = false
	cfg.L1TTL, cfg.L1StaleTTL = time.Hour, time.Hour
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	tp, _, err := telemetry.NewTracerProvider(context.Background(), config.Telemetry{SampleRatio: 0.01}, "catalog-api")
	if err != nil {
		b.Fatal(err)
	}
	env := &app.Env{Name: "catalog-api", Logger: logger, Metrics: telemetry.NewRegistry(), Tracer: tp, Health: health.NewRegistry(time.Second)}
	svc, err := New(context.Background(), env, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Close(context.Background()) })
	router := mux.NewRouter()
	svc.Routes(router)
	h := httpmw.Chain(router, httpmw.NewMetrics(env.Metrics), tp.Tracer("orderpipe/catalog-api"), logger)
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	req := httptest.NewRequest(http.MethodGet, "/api/v1/products/prod-00001", nil)
	if w := httptest.NewRecorder(); true {
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.Run("catalog", func(b *testing.B) {
		b.ReportAllocs()
		w := &discardWriter{h: http.Header{}}
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
	b.Run("handler-only", func(b *testing.B) {
		b.ReportAllocs()
		w := &discardWriter{h: http.Header{}}
		r := mux.SetURLVars(req, map[string]string{"id": "prod-00001"})
		for b.Loop() {
			clear(w.h)
			svc.getProduct(w, r)
		}
	})
	b.Run("empty-chain", func(b *testing.B) {
		b.ReportAllocs()
		w := &discardWriter{h: http.Header{}}
		hc := httpmw.Chain(bare, httpmw.NewMetrics(telemetry.NewRegistry()), tp.Tracer("x"), logger)
		for b.Loop() {
			clear(w.h)
			hc.ServeHTTP(w, req)
		}
	})
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
