// Package cli implements the orderpipe command: one tool for people to run
// the dev stack, manage topics and the local test servers, and more.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, out io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"config":  {"print every setting the services read (environment variable, flag, default) as a table", runConfig},
		"dev":     {"run the whole pipeline locally on an embedded Kafka, with one base URL", runDev},
		"migrate": {"apply the PostgreSQL migrations (`migrate status` lists them); the order-processor also runs them on start", runMigrate},
		"topics":  {"manage topics: `topics apply` creates/updates every topic from the spec", runTopics},
		"stack":   {"start/stop real Apache Kafka, PostgreSQL and Redis for tests: `stack up|down`", runStack},
		"lag":     {"consumer lag per group, topic and partition (records and seconds; 0 when a transactional topic is caught up): table, --json, --watch, --serve", runLag},
		"load":    {"send bounded, realistic order load to an ingress on this machine and report throughput and latency", runLoad},
		"chaos":   {"the Black Friday proof: the whole pipeline on 3 brokers under a burst, retry storms, kill -9 and outages, verified from outside", runChaos},

		"catalog": {"load products: `catalog import FILE` (JSON Lines or CSV); `catalog rebuild` recreates the Redis projection from the topics", runCatalog},
	}
}

// ErrUsage marks a usage error (exit code 2).
var ErrUsage = errors.New("usage")

// Run runs the orderpipe command with args (without the program name).
func Run(ctx context.Context, args []string, out io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(out, cmds)
		if len(args) == 0 {
			return ErrUsage
		}
		return nil
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		usage(out, cmds)
		return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
	}
	err := cmd.run(ctx, args[1:], out)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func usage(out io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("orderpipe — the Kafka-native order pipeline's command line\n\nusage: orderpipe <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun `orderpipe <command> -h` for a command's flags.\n")
	_, _ = io.WriteString(out, b.String())
}
