package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/orderpipe/orderpipe/internal/loadgen"
)

// runLoad is `orderpipe load`: send bounded, realistic order load to an
// ingress on this machine and print the summary.
func runLoad(ctx context.Context, args []string, out io.Writer) error {
	var cfg loadgen.Config
	var bare, quiet bool
	fs := flag.NewFlagSet("orderpipe load", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8081", "base URL of the ingress (loopback only; `orderpipe dev` serves http://127.0.0.1:8080)")
	fs.StringVar(&cfg.Mode, "mode", loadgen.ModeConcurrency, "rate (constant arrival rate, open model) or concurrency (fixed workers)")
	fs.Float64Var(&cfg.Rate, "rate", 1000, "orders per second (rate mode)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "workers (concurrency mode) or most requests in flight (rate mode)")
	fs.IntVar(&cfg.Requests, "requests", 100000, "stop after this many orders (0: only -duration bounds the run)")
	fs.DurationVar(&cfg.Duration, "duration", time.Minute, "stop after this long (at most 24h)")
	fs.IntVar(&cfg.Products, "products", 10000, "distinct product ids")
	fs.Float64Var(&cfg.Skew, "skew", 1.1, "Zipf exponent of product popularity (> 1)")
	fs.IntVar(&cfg.Customers, "customers", 100000, "distinct customer ids")
	fs.Float64Var(&cfg.RetryShare, "retry-share", 0, "retry storm: share of orders resent with the same Idempotency-Key (0..1)")
	fs.Float64Var(&cfg.Concurrent, "retry-concurrent", 0.5, "share of those resends sent concurrently with the original (0..1)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: from the clock)")
	fs.BoolVar(&bare, "bare", false, "target a bare in-process handler answering 202 with no work (the ceiling), instead of -url")
	fs.BoolVar(&quiet, "quiet", false, "no live progress line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	if !quiet {
		cfg.Progress = os.Stderr
	}
	if bare {
		url, stop, err := serveBare(ctx)
		if err != nil {
			return err
		}
		defer stop()
		cfg.URL = url
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	res.Summary(out, cfg)
	return nil
}

// serveBare serves loadgen.BareHandler on a loopback port.
func serveBare(ctx context.Context) (string, func(), error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("bare handler: %w", err)
	}
	srv := &http.Server{Handler: loadgen.BareHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "bare handler:", err)
		}
	}()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}
