package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/orderpipe/orderpipe/pkg/localstack"
)

const stackUsage = `usage: orderpipe stack up   [--dir .local/test] [--kafka-brokers 1|3] [--no-kafka] [--env-file PATH]
       orderpipe stack down [--dir .local/test]

Starts real Apache Kafka (KRaft), PostgreSQL and Redis on free 127.0.0.1 ports
as background processes in --dir, installing what is missing (Kafka jars from
Maven Central, Debian packages), and stops them again. Relative paths are
relative to the repo root. See deploy/local/README.md.
`

// runStack implements `orderpipe stack up|down`.
func runStack(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		_, _ = fmt.Fprint(out, stackUsage)
		return fmt.Errorf("%w: stack needs up or down", ErrUsage)
	}
	switch args[0] {
	case "up":
		return stackUp(ctx, args[1:], out)
	case "down":
		return stackDown(ctx, args[1:], out)
	case "-h", "--help", "help":
		_, _ = fmt.Fprint(out, stackUsage)
		return nil
	}
	_, _ = fmt.Fprint(out, stackUsage)
	return fmt.Errorf("%w: unknown stack command %q", ErrUsage, args[0])
}

func stackUp(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("orderpipe stack up", flag.ContinueOnError)
	fs.SetOutput(out)
	dir := fs.String("dir", ".local/test", "stack directory (data, logs, pid files, stack.json)")
	brokers := fs.Int("kafka-brokers", 1, "Kafka nodes: 1, or 3 (replication 3, min.insync.replicas 2)")
	heap := fs.Int("kafka-heap-mb", 512, "JVM heap per Kafka node, in MB")
	noKafka := fs.Bool("no-kafka", false, "start only PostgreSQL and Redis")
	envFile := fs.String("env-file", "", "also write KEY=value lines (KAFKA_BROKERS, DATABASE_URL, REDIS_URL) here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: stack up takes no arguments, got %q", ErrUsage, fs.Args())
	}
	if *brokers != 1 && *brokers != 3 {
		return fmt.Errorf("%w: --kafka-brokers must be 1 or 3, got %d", ErrUsage, *brokers)
	}
	root, err := localstack.RepoRoot()
	if err != nil {
		return err
	}
	s, err := localstack.Up(ctx, localstack.StackOptions{
		Dir: underRoot(root, *dir), Root: root, KafkaBrokers: *brokers, KafkaHeapMB: *heap,
		NoKafka: *noKafka, Out: out,
	})
	if err != nil {
		return err
	}
	env := s.Env()
	if *envFile != "" {
		if err := writeEnvFile(underRoot(root, *envFile), env); err != nil {
			return err
		}
	}
	printSummary(out, root, s, env, *envFile)
	return nil
}

func stackDown(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("orderpipe stack down", flag.ContinueOnError)
	fs.SetOutput(out)
	dir := fs.String("dir", ".local/test", "stack directory given to `stack up`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: stack down takes no arguments, got %q", ErrUsage, fs.Args())
	}
	root, err := localstack.RepoRoot()
	if err != nil {
		return err
	}
	d := underRoot(root, *dir)
	if err := localstack.Down(ctx, d); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(out, "stack: nothing runs from %s any more\n", rel(root, d))
	return nil
}

// underRoot resolves a relative path against the repo root.
func underRoot(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

func writeEnvFile(path string, env map[string]string) error {
	var b strings.Builder
	b.WriteString("# written by `orderpipe stack up`; source it or pass it to your tool\n")
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "%s=%s\n", k, env[k])
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("env file: %w", err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("env file: %w", err)
	}
	return nil
}

func printSummary(out io.Writer, root string, s *localstack.Stack, env map[string]string, envFile string) {
	d := rel(root, s.Dir)
	_, _ = fmt.Fprintf(out, "\nstack up in %s:\n", d)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		_, _ = fmt.Fprintf(out, "  %s=%s\n", k, env[k])
	}
	logs := fmt.Sprintf("%s/postgres/postgres.log, %s/redis/redis.log", d, d)
	if s.Kafka != nil {
		logs = fmt.Sprintf("%s/kafka/node-*/server.log, %s", d, logs)
	}
	_, _ = fmt.Fprintf(out, "logs: %s\n", logs)
	if envFile != "" {
		_, _ = fmt.Fprintf(out, "env file: %s\n", envFile)
	}
	_, _ = fmt.Fprintf(out, "stop with: go run ./cmd/orderpipe stack down --dir %s\n", d)
}
