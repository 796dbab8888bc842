// Package app runs an orderpipe service: it loads configuration, sets up
// logging, metrics, tracing and health probes, serves HTTP, runs the
// service's background work, and shuts everything down in order on SIGTERM.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/health"
	"github.com/orderpipe/orderpipe/pkg/httpmw"
	"github.com/orderpipe/orderpipe/pkg/httpserver"
	"github.com/orderpipe/orderpipe/pkg/problem"
	"github.com/orderpipe/orderpipe/pkg/telemetry"
)

// Service is what each binary builds from its configuration.
type Service interface {
	// Routes mounts the service's public routes.
	Routes(r *mux.Router)
	// Run does the service's background work until ctx is done.
	Run(ctx context.Context) error
	// Close releases resources once HTTP has drained and Run has returned
	// (flush producers, close clients). ctx bounds it.
	Close(ctx context.Context) error
}

// Env is what a service gets from the runner.
type Env struct {
	Name    string
	Logger  *slog.Logger
	Metrics *prometheus.Registry
	Tracer  trace.TracerProvider
	Health  *health.Registry
}

// Config is a service's own configuration.
type Config interface {
	Register(s *config.Set)
	Validate() error
}

// Builder builds a service once configuration is loaded and validated.
type Builder func(ctx context.Context, env *Env) (Service, error)

// Common is the configuration every service shares.
type Common struct {
	HTTP      config.HTTP
	Log       config.Log
	Telemetry config.Telemetry
}

// Register binds the shared settings.
func (c *Common) Register(s *config.Set, defaultAddr string) {
	c.HTTP.Register(s, defaultAddr)
	c.Log.Register(s)
	c.Telemetry.Register(s)
}

// Validate reports every problem at once.
func (c *Common) Validate() error {
	return errors.Join(c.HTTP.Validate(), c.Log.Validate(), c.Telemetry.Validate())
}

// Load parses args and the environment into common and cfg and validates both.
func Load(name, defaultAddr string, args []string, lookup func(string) (string, bool), common *Common, cfg Config) error {
	s := config.NewSet(name, lookup)
	common.Register(s, defaultAddr)
	cfg.Register(s)
	if err := s.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "usage of %s (flags override environment variables):\n", name)
			s.Usage(os.Stderr)
		}
		return fmt.Errorf("configuration: %w", err)
	}
	if err := errors.Join(common.Validate(), cfg.Validate()); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return nil
}

// Main is a binary's whole main: load configuration from os.Args and the
// environment, run until SIGINT/SIGTERM, and return the exit code.
func Main(name, defaultAddr string, cfg Config, build Builder) int {
	var common Common
	if err := Load(name, defaultAddr, os.Args[1:], nil, &common, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	// The Go heap's soft limit follows the container's memory limit (90 %,
	// AUTOMEMLIMIT changes the share; GOMEMLIMIT set explicitly wins), so
	// a GOGC above the default trades spare memory for CPU without
	// risking the OOM killer (decision 0029).
	if _, err := memlimit.Set(memlimit.WithProvider(memlimit.FromCgroup)); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v (GOMEMLIMIT left as it was)\n", name, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, name, common, build, Options{}); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// Options tune Run for embedding (orderpipe dev, tests).
type Options struct {
	// LogOutput receives the logs; os.Stderr when nil.
	LogOutput io.Writer
	// Ready is called with the bound address once the service has started.
	Ready func(addr string)
}

// Run runs the service until ctx is done or it fails.
func Run(ctx context.Context, name string, common Common, build Builder, opts Options) error {
	if opts.LogOutput == nil {
		opts.LogOutput = os.Stderr
	}
	logger := telemetry.NewLogger(common.Log, name, opts.LogOutput)
	tp, shutdownTracing, err := telemetry.NewTracerProvider(ctx, common.Telemetry, name)
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTracing(context.WithoutCancel(ctx)) }()

	env := &Env{Name: name, Logger: logger, Metrics: telemetry.NewRegistry(), Tracer: tp, Health: health.NewRegistry(2 * time.Second)}
	router := mux.NewRouter()
	router.Use(httpmw.TagRoute) // route labels of the HTTP metrics
	router.NotFoundHandler = http.HandlerFunc(problem.NotFound)
	router.MethodNotAllowedHandler = http.HandlerFunc(problem.MethodNotAllowed)
	env.Health.Routes(router)
	router.Handle("/metrics", promhttp.HandlerFor(env.Metrics, promhttp.HandlerOpts{Registry: env.Metrics}))

	handler := httpmw.Chain(router, httpmw.NewMetrics(env.Metrics), tp.Tracer("orderpipe/"+name), logger)
	srv, err := httpserver.Listen(common.HTTP, handler, logger)
	if err != nil {
		return err
	}
	svc, err := build(ctx, env)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	svc.Routes(router)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx) })
	g.Go(func() error {
		if err := svc.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		env.Health.Draining()
		return nil
	})
	if common.Telemetry.PprofAddr != "" {
		g.Go(func() error { return httpserver.Pprof(gctx, common.Telemetry.PprofAddr) })
	}
	env.Health.Started()
	logger.Info("started", "addr", srv.Addr(), "gogc", gcPercent(), "gomemlimit", debug.SetMemoryLimit(-1))
	if opts.Ready != nil {
		opts.Ready(srv.Addr())
	}
	runErr := g.Wait()
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), common.HTTP.DrainTimeout)
	defer cancel()
	if err := svc.Close(closeCtx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("close %s: %w", name, err))
	}
	logger.Info("stopped", "error", runErr)
	return runErr
}

// gcPercent is the GC target the runtime started with (GOGC).
func gcPercent() string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	return "100"
}
