package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/orderpipe/orderpipe/internal/chaos"
	"github.com/orderpipe/orderpipe/pkg/localstack"
)

// ErrChaosFailed is a chaos run whose verification failed.
var ErrChaosFailed = errors.New("chaos run failed verification")

// runChaos is `orderpipe chaos`: the bounded (default) or long Black Friday
// proof; non-zero exit on any violation.
func runChaos(ctx context.Context, args []string, out io.Writer) error {
	cfg := chaos.Bounded()
	fs := flag.NewFlagSet("orderpipe chaos", flag.ContinueOnError)
	fs.SetOutput(out)
	long := fs.Bool("long", false, "the long run: ≥ 300k orders over about 21 minutes (figures for docs/reliability.md)")
	dir := fs.String("dir", cfg.Dir, "directory of the run's stack, binaries and service logs (relative to the repo root); wiped first")
	keep := fs.Bool("keep", false, "leave Kafka, PostgreSQL and Redis running afterwards (stop them with `orderpipe stack down --dir DIR/stack`)")
	duration := fs.Duration("duration", 0, "traffic time (default: 3m, or 21m with -long); faults scale with it")
	rate := fs.Float64("rate", 0, "normal arrivals of new keys per second (default 110, or 420 with -long)")
	burst := fs.Float64("burst", 0, "the burst's factor over the normal rate (default 20)")
	seed := fs.Uint64("seed", 1, "random seed of the workload")
	mdRow := fs.String("markdown", "", "append the run as a docs/reliability.md table row to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	if *long {
		cfg = chaos.Long()
	}
	if *duration > 0 {
		cfg = chaos.Scaled(cfg, *duration)
	}
	if *rate > 0 {
		cfg.Workload.Rate = *rate
	}
	if *burst > 0 {
		cfg.Workload.BurstFactor = *burst
	}
	cfg.Workload.Seed = *seed
	cfg.Dir, cfg.KeepStack, cfg.Out = *dir, *keep, out
	root, err := localstack.RepoRoot()
	if err != nil {
		return err
	}
	cfg.Root = root
	started := time.Now()
	res, err := chaos.Run(ctx, cfg)
	if res != nil && res.Client != nil {
		res.Print(out, cfg)
		_, _ = fmt.Fprintf(out, "wall time %s\n", time.Since(started).Round(time.Second))
		if *mdRow != "" {
			if werr := appendLine(underRoot(root, *mdRow), res.MarkdownRow(cfg.Workload)); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}
	if err != nil {
		return err
	}
	if !res.OK() {
		return ErrChaosFailed
	}
	return nil
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
