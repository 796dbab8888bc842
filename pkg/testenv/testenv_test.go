package testenv

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaFallsBackWithoutBrokers: with no KAFKA_BROKERS and no Docker
// engine, Kafka(t) hands out a working in-process kfake.
func TestKafkaFallsBackWithoutBrokers(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	t.Setenv("ORDERPIPE_REQUIRE_REAL", "")
	env := Kafka(t)
	if env.Kind == KindReal {
		t.Fatalf("kind = %s without KAFKA_BROKERS", env.Kind)
	}
	if !dockerReachable() && env.Kind != KindKfake {
		t.Fatalf("no Docker engine here, kind = %s, want kfake", env.Kind)
	}
	if !strings.HasPrefix(env.Config.TopicPrefix, "t.") || env.Config.ReplicationFactor != 1 {
		t.Errorf("config = %+v", env.Config)
	}
	cl := env.Client(t, kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("fallback broker does not answer: %v", err)
	}
}

// TestKafkaUsesRealBrokersFromEnvironment runs under `make test`.
func TestKafkaUsesRealBrokersFromEnvironment(t *testing.T) {
	if os.Getenv("KAFKA_BROKERS") == "" {
		t.Skip("KAFKA_BROKERS unset")
	}
	if env := Kafka(t); env.Kind != KindReal {
		t.Fatalf("kind = %s with KAFKA_BROKERS set, want real", env.Kind)
	}
}

// TestRequireRealFailsInsteadOfFallingBack runs the helpers in a child
// process with ORDERPIPE_REQUIRE_REAL=1 and no servers: each must fail the
// test, not skip it or fall back.
func TestRequireRealFailsInsteadOfFallingBack(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") != "" {
		switch os.Getenv("TESTENV_CHILD") {
		case "kafka":
			Kafka(t)
		case "postgres":
			Postgres(t)
		case "redis":
			Redis(t)
		}
		return
	}
	for _, what := range []string{"kafka", "postgres", "redis"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequireRealFailsInsteadOfFallingBack$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD="+what, "ORDERPIPE_REQUIRE_REAL=1",
			"KAFKA_BROKERS=", "DATABASE_URL=", "REDIS_URL=")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s: child passed without a server:\n%s", what, out)
			continue
		}
		if !strings.Contains(string(out), "ORDERPIPE_REQUIRE_REAL=1") {
			t.Errorf("%s: failure does not explain itself:\n%s", what, out)
		}
	}
}

// TestStoresSkipWithoutServers: outside `make test`, PostgreSQL and Redis
// tests are skipped, with a reason, when no server is configured.
func TestStoresSkipWithoutServers(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") != "" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRequireRealFailsInsteadOfFallingBack$", "-test.v")
	cmd.Env = append(os.Environ(), "TESTENV_CHILD=postgres", "ORDERPIPE_REQUIRE_REAL=", "DATABASE_URL=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SKIP") || !strings.Contains(string(out), "DATABASE_URL unset") {
		t.Fatalf("want a skip naming DATABASE_URL, got err=%v:\n%s", err, out)
	}
}

func TestUniqueNamesDiffer(t *testing.T) {
	a, b := uniqueName(t), uniqueName(t)
	if a == b {
		t.Fatalf("two calls gave %q", a)
	}
	if strings.ContainsAny(a, " /_.") {
		t.Errorf("unsafe characters in %q", a)
	}
}
