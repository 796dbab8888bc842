package cmd_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/localstack"
)

// TestKafkaSCRAMOverTLS runs a broker of its own with SASL/SCRAM-SHA-512
// over TLS (pkg/localstack, certificates generated at start) and checks the
// documented settings for real: the right credentials carry an idempotent
// transactional produce and a read_committed consume; wrong ones fail at
// client start with ErrAuth within kafka.SecurityCheckTimeout, and the
// ingress binary exits at start naming the settings to check.
func TestKafkaSCRAMOverTLS(t *testing.T) {
	if os.Getenv("LOCALSTACK_TEST") != "1" {
		t.Skip("set LOCALSTACK_TEST=1 to start a SCRAM/TLS Kafka broker (make test does)")
	}
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	lib, err := localstack.EnsureKafkaJars(ctx, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	const user, password = "orderpipe", "s3cret-pass"
	k, err := localstack.StartKafka(ctx, localstack.KafkaOptions{
		Dir: filepath.Join(root, ".local", "localstack-test", t.Name()), LibDir: lib,
		Security: &localstack.KafkaSecurity{Mechanism: "SCRAM-SHA-512", Users: map[string]string{user: password}, TLS: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Stop(context.Background()) })

	good := config.Kafka{
		Brokers: strings.Split(k.Bootstrap(), ","), ClientID: "orderpipe-sec-test",
		SASLMechanism: "SCRAM-SHA-512", SASLUser: user, SASLPassword: password,
		TLS: true, TLSCAFile: k.CAFile(), ReplicationFactor: 1, MinInsyncReplicas: 1,
	}

	t.Run("credentials work end to end", func(t *testing.T) {
		produceAndConsume(ctx, t, good)
	})

	bad := map[string]func(*config.Kafka){
		"wrong password":  func(c *config.Kafka) { c.SASLPassword = "not-the-password" },
		"unknown user":    func(c *config.Kafka) { c.SASLUser = "mallory" },
		"wrong mechanism": func(c *config.Kafka) { c.SASLMechanism = "SCRAM-SHA-256" },
		"untrusted CA":    func(c *config.Kafka) { c.TLSCAFile = "" },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			cfg := good
			mutate(&cfg)
			start := time.Now()
			cl, err := kafka.NewProducer(cfg, nil)
			if err == nil {
				cl.Close()
				t.Fatal("client started with bad settings")
			}
			if !errors.Is(err, kafka.ErrAuth) {
				t.Fatalf("error = %v, want kafka.ErrAuth", err)
			}
			if d := time.Since(start); d > kafka.SecurityCheckTimeout {
				t.Errorf("took %s, want ≤ %s", d, kafka.SecurityCheckTimeout)
			}
			t.Logf("%s: %v", time.Since(start).Round(time.Millisecond), err)
		})
	}

	t.Run("ingress binary exits at start with a clear message", func(t *testing.T) {
		bin := t.TempDir()
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./ingress").CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
		runCtx, cancelRun := context.WithTimeout(ctx, 30*time.Second)
		defer cancelRun()
		cmd := exec.CommandContext(runCtx, filepath.Join(bin, "ingress"))
		cmd.Env = append(os.Environ(), "HTTP_ADDR=127.0.0.1:0", "LOG_FORMAT=text",
			"KAFKA_BROKERS="+k.Bootstrap(), "KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
			"KAFKA_SASL_USERNAME="+user, "KAFKA_SASL_PASSWORD=wr0ng-Pa55", "KAFKA_TLS=true", "KAFKA_TLS_CA_FILE="+k.CAFile(),
			"REDIS_URL=redis://127.0.0.1:1/0", "DATABASE_URL=postgres://orderpipe@127.0.0.1:1/orderpipe?sslmode=disable")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || runCtx.Err() != nil {
			t.Fatalf("ingress: err = %v (want a non-zero exit before the deadline)\n%s", err, out)
		}
		for _, want := range []string{"authentication failed", "KAFKA_SASL_PASSWORD", "SCRAM-SHA-512"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(string(out), "wr0ng-Pa55") {
			t.Errorf("output leaks the password:\n%s", out)
		}
		t.Logf("exit %d after %s", exit.ExitCode(), time.Since(start).Round(time.Millisecond))
	})
}

// produceAndConsume writes one record in a committed transaction with the
// idempotent producer and reads it back read_committed.
func produceAndConsume(ctx context.Context, t *testing.T, cfg config.Kafka) {
	t.Helper()
	admin, err := kafka.NewClient(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	const topic = "security.test.v1"
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	p, err := kafka.NewProducer(cfg, nil, kgo.TransactionalID("orderpipe-sec-test"), kgo.TransactionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("over SCRAM and TLS")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	c, err := kafka.NewConsumer(cfg, nil, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		fs := c.PollFetches(pctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			if string(recs[0].Value) != "over SCRAM and TLS" {
				t.Fatalf("read %q", recs[0].Value)
			}
			return
		}
	}
}
