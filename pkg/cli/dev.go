package cli

import (
	"context"
	"flag"
	"io"

	"github.com/orderpipe/orderpipe/internal/catalog"
	"github.com/orderpipe/orderpipe/internal/devstack"
)

func runDev(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("orderpipe dev", flag.ContinueOnError)
	fs.SetOutput(out)
	opts := devstack.Options{Out: out, Seed: catalog.SeedDemo}
	fs.StringVar(&opts.Addr, "addr", "127.0.0.1:8080", "base URL listen address")
	fs.StringVar(&opts.Dir, "dir", ".local/dev", "data and log directory")
	fs.StringVar(&opts.KafkaAddr, "kafka-addr", "127.0.0.1:9092", "embedded Kafka listen address (port 0 picks a free one)")
	fs.IntVar(&opts.Partitions, "partitions", 6, "partitions per topic")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return devstack.Run(ctx, opts)
}
