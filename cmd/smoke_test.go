// Package cmd_test starts every service binary as its own process against
// the test's real servers and checks that it becomes ready and exits
// cleanly on SIGTERM.
package cmd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

func TestServicesStartAndStopOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every binary")
	}
	kenv := testenv.Kafka(t)
	pgURL := testenv.Postgres(t)
	renv := testenv.Redis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := kenv.Client(t)
	if _, err := kafka.Apply(ctx, cl, kafka.Spec(kenv.Config, kafka.SpecOptions{}), io.Discard); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./ingress", "./catalog-api", "./inventory-processor", "./order-processor")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	env := append(os.Environ(),
		"HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=info",
		"KAFKA_BROKERS="+strings.Join(kenv.Brokers, ","),
		"TOPIC_PREFIX="+kenv.Config.TopicPrefix,
		"ORDER_PARTITIONS="+strconv.Itoa(kenv.Config.OrderPartitions),
		"PRODUCT_PARTITIONS="+strconv.Itoa(kenv.Config.ProductPartitions),
		"KAFKA_REPLICATION_FACTOR="+strconv.Itoa(kenv.Config.ReplicationFactor),
		"KAFKA_MIN_INSYNC_REPLICAS="+strconv.Itoa(kenv.Config.MinInsyncReplicas),
		"DATABASE_URL="+pgURL, "REDIS_URL="+renv.URL, "REDIS_KEY_PREFIX="+renv.Prefix,
	)
	for _, name := range []string{"ingress", "catalog-api", "inventory-processor", "order-processor"} {
		t.Run(name, func(t *testing.T) {
			runOne(ctx, t, filepath.Join(bin, name), env)
		})
	}
}

func runOne(ctx context.Context, t *testing.T, path string, env []string) {
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	addr := make(chan string, 1)
	var logs strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			logs.WriteString(line + "\n")
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "started" {
				addr <- rec.Addr
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-logDone
		t.Fatalf("no \"started\" log line within 60s:\n%s", logs.String())
	}
	svctest.WaitReady(t, base+"/health/ready", 60*time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { <-logDone; waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("still running 45s after SIGTERM:\n%s", logs.String())
	}
}
