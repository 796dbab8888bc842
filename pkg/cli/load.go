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
	var clients, abuserConc int
	var abuserRate float64
	var abuserIP string
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
	fs.IntVar(&clients, "clients", 0, "send from this many loopback addresses in turn (127.0.1.1, 127.0.1.2, …), so the ingress sees that many clients (0: 127.0.0.1)")
	fs.Float64Var(&abuserRate, "abuser-rate", 0, "also run one abusive client at this many orders/s (fresh keys, a new customerId each time) from -abuser-ip, and report it apart")
	fs.StringVar(&abuserIP, "abuser-ip", "127.0.66.6", "loopback address the abusive client sends from")
	fs.IntVar(&abuserConc, "abuser-concurrency", 256, "most requests of the abusive client in flight")
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
	for i := range clients {
		cfg.Sources = append(cfg.Sources, fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250))
	}
	if abuserRate <= 0 {
		res, err := loadgen.Run(ctx, cfg)
		if err != nil {
			return err
		}
		res.Summary(out, cfg)
		return nil
	}
	return runWithAbuser(ctx, cfg, abuserRate, abuserIP, abuserConc, out)
}

// runWithAbuser runs the normal load and, at the same time, one abusive
// client, and reports each apart: what the normal clients saw under attack
// and how much of the attack got through.
func runWithAbuser(ctx context.Context, cfg loadgen.Config, rate float64, ip string, conc int, out io.Writer) error {
	bad := cfg
	bad.Mode, bad.Rate, bad.Concurrency, bad.Requests = loadgen.ModeRate, rate, conc, 0
	bad.Customers, bad.RetryShare, bad.Sources, bad.Progress, bad.IDPrefix = 1_000_000, 0, []string{ip}, nil, "abuser"
	if cfg.Seed != 0 {
		bad.Seed = cfg.Seed + 1
	}
	if err := bad.Validate(); err != nil {
		return fmt.Errorf("abusive client: %w", err)
	}
	var badRes loadgen.Result
	var badErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		badRes, badErr = loadgen.Run(ctx, bad)
	}()
	res, err := loadgen.Run(ctx, cfg)
	<-done
	if err = errors.Join(err, badErr); err != nil {
		return err
	}
	fmt.Fprintln(out, "== normal clients ==")
	res.Summary(out, cfg)
	fmt.Fprintf(out, "== abusive client (%s) ==\n", ip)
	badRes.Summary(out, bad)
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
