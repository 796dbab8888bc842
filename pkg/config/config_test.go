package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/pkg/config"
)

type all struct {
	HTTP  config.HTTP
	Log   config.Log
	Tel   config.Telemetry
	Kafka config.Kafka
	PG    config.Postgres
	Redis config.Redis
}

func load(t *testing.T, env map[string]string, args ...string) (*all, error) {
	t.Helper()
	var c all
	s := config.NewSet("test", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	c.HTTP.Register(s, ":8080")
	c.Log.Register(s)
	c.Tel.Register(s)
	c.Kafka.Register(s)
	c.PG.Register(s)
	c.Redis.Register(s)
	if err := s.Parse(args); err != nil {
		return &c, err
	}
	return &c, errors.Join(c.HTTP.Validate(), c.Log.Validate(), c.Tel.Validate(), c.Kafka.Validate(), c.PG.Validate(), c.Redis.Validate())
}

func TestDefaultsAreValid(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
	if got := c.Kafka.Brokers; len(got) != 1 || got[0] != "127.0.0.1:9092" {
		t.Errorf("default brokers = %v", got)
	}
	if c.HTTP.ReadHeaderTimeout != 5*time.Second {
		t.Errorf("ReadHeaderTimeout = %v", c.HTTP.ReadHeaderTimeout)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, err := load(t, map[string]string{"KAFKA_BROKERS": "a:1,b:2", "ORDER_PARTITIONS": "6"}, "-order-partitions", "24")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Kafka.Brokers) != 2 || c.Kafka.Brokers[1] != "b:2" {
		t.Errorf("brokers from env = %v", c.Kafka.Brokers)
	}
	if c.Kafka.OrderPartitions != 24 {
		t.Errorf("flag must win over env: OrderPartitions = %d", c.Kafka.OrderPartitions)
	}
}

func TestValidationReportsEveryProblemAtOnce(t *testing.T) {
	_, err := load(t, map[string]string{
		"KAFKA_BROKERS":             "no-port",
		"ORDER_PARTITIONS":          "zero",
		"PRODUCT_PARTITIONS":        "0",
		"KAFKA_SASL_MECHANISM":      "GSSAPI",
		"KAFKA_MIN_INSYNC_REPLICAS": "4",
		"LOG_LEVEL":                 "loud",
		"HTTP_ADDR":                 "8080",
		"HTTP_READ_TIMEOUT":         "soon",
		"DATABASE_URL":              "mysql://x",
		"REDIS_URL":                 "localhost:6379",
		"OTEL_TRACES_SAMPLER_ARG":   "2",
	})
	if err == nil {
		t.Fatal("want errors")
	}
	// Malformed values are reported by Parse; a second load without them
	// reports the validation problems. Check both halves.
	for _, want := range []string{"ORDER_PARTITIONS=\"zero\"", "HTTP_READ_TIMEOUT=\"soon\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	_, err = load(t, map[string]string{
		"KAFKA_BROKERS": "no-port", "PRODUCT_PARTITIONS": "0", "KAFKA_SASL_MECHANISM": "GSSAPI",
		"KAFKA_MIN_INSYNC_REPLICAS": "4", "LOG_LEVEL": "loud", "HTTP_ADDR": "8080",
		"DATABASE_URL": "mysql://x", "REDIS_URL": "localhost:6379", "OTEL_TRACES_SAMPLER_ARG": "2",
	})
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"KAFKA_BROKERS entry \"no-port\"", "PRODUCT_PARTITIONS 0", "KAFKA_SASL_MECHANISM \"GSSAPI\"",
		"KAFKA_MIN_INSYNC_REPLICAS 4", "LOG_LEVEL \"loud\"", "HTTP_ADDR \"8080\"", "DATABASE_URL", "REDIS_URL", "OTEL_TRACES_SAMPLER_ARG"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestSASLNeedsCredentials(t *testing.T) {
	_, err := load(t, map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "u"})
	if err == nil || !strings.Contains(err.Error(), "KAFKA_SASL_PASSWORD") {
		t.Fatalf("err = %v, want a missing password", err)
	}
}

func TestEmbeddedBrokerValue(t *testing.T) {
	if _, err := load(t, map[string]string{"KAFKA_BROKERS": "embedded"}); err != nil {
		t.Fatalf("KAFKA_BROKERS=embedded must validate: %v", err)
	}
}

func TestMarkdownListsEachVariableOnce(t *testing.T) {
	s1 := config.NewSet("x", func(string) (string, bool) { return "", false })
	s2 := config.NewSet("y", func(string) (string, bool) { return "", false })
	var a, b config.Kafka
	a.Register(s1)
	b.Register(s2)
	md := config.Markdown(append(s1.Vars(), s2.Vars()...))
	if n := strings.Count(md, "`KAFKA_BROKERS`"); n != 1 {
		t.Errorf("KAFKA_BROKERS appears %d times", n)
	}
	if strings.Contains(md, "KAFKA_SASL_PASSWORD` | `-kafka-sasl-password` | `") {
		t.Errorf("secret default must not be shown")
	}
}

func TestPprofOnlyOnLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:6060": true, "localhost:6060": true, "[::1]:6060": true,
		":6060": false, "0.0.0.0:6060": false, "10.0.0.5:6060": false, "6060": false,
	} {
		_, err := load(t, map[string]string{"PPROF_ADDR": addr})
		if (err == nil) != ok {
			t.Errorf("PPROF_ADDR=%s: err = %v, want ok=%v", addr, err, ok)
		}
	}
}
