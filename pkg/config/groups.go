package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// HTTP configures a service's HTTP listener.
type HTTP struct {
	Addr              string
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	DrainTimeout      time.Duration
}

// Register binds the settings; defaultAddr differs per service.
func (c *HTTP) Register(s *Set, defaultAddr string) {
	s.String(&c.Addr, "HTTP_ADDR", "http-addr", defaultAddr, "HTTP listen address (host:port)")
	s.Duration(&c.ReadHeaderTimeout, "HTTP_READ_HEADER_TIMEOUT", "http-read-header-timeout", 5*time.Second, "time allowed to read request headers (slowloris guard)")
	s.Duration(&c.ReadTimeout, "HTTP_READ_TIMEOUT", "http-read-timeout", 10*time.Second, "time allowed to read a whole request")
	s.Duration(&c.WriteTimeout, "HTTP_WRITE_TIMEOUT", "http-write-timeout", 40*time.Second, "time allowed to write a response (covers Prefer: wait)")
	s.Duration(&c.IdleTimeout, "HTTP_IDLE_TIMEOUT", "http-idle-timeout", 120*time.Second, "keep-alive idle timeout")
	s.Duration(&c.DrainTimeout, "SHUTDOWN_DRAIN_TIMEOUT", "shutdown-drain-timeout", 20*time.Second, "how long a SIGTERM waits for in-flight work before exit")
}

// Validate reports every problem at once.
func (c *HTTP) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("HTTP_ADDR %q: want host:port", c.Addr))
	}
	for name, d := range map[string]time.Duration{
		"HTTP_READ_HEADER_TIMEOUT": c.ReadHeaderTimeout, "HTTP_READ_TIMEOUT": c.ReadTimeout,
		"HTTP_WRITE_TIMEOUT": c.WriteTimeout, "HTTP_IDLE_TIMEOUT": c.IdleTimeout, "SHUTDOWN_DRAIN_TIMEOUT": c.DrainTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	return errors.Join(errs...)
}

// Log configures structured logging.
type Log struct {
	Level  string
	Format string
}

// Register binds the settings.
func (c *Log) Register(s *Set) {
	s.String(&c.Level, "LOG_LEVEL", "log-level", "info", "log level: debug, info, warn, error")
	s.String(&c.Format, "LOG_FORMAT", "log-format", "json", "log format: json or text")
}

// Validate reports every problem at once.
func (c *Log) Validate() error {
	var errs []error
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.Level)) {
		errs = append(errs, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", c.Level))
	}
	if c.Format != "json" && c.Format != "text" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT %q: want json or text", c.Format))
	}
	return errors.Join(errs...)
}

// Telemetry configures tracing and the profiling endpoint.
type Telemetry struct {
	OTLPEndpoint string
	SampleRatio  float64
	PprofAddr    string
}

// Register binds the settings.
func (c *Telemetry) Register(s *Set) {
	s.String(&c.OTLPEndpoint, "OTEL_EXPORTER_OTLP_ENDPOINT", "otlp-endpoint", "", "OTLP/HTTP endpoint for traces (e.g. http://otel-collector:4318); empty disables export")
	s.Float(&c.SampleRatio, "OTEL_TRACES_SAMPLER_ARG", "trace-sample-ratio", 0.01, "share of traces sampled at the root (0..1)")
	s.String(&c.PprofAddr, "PPROF_ADDR", "pprof-addr", "", "loopback address serving Go's /debug/pprof profiles (e.g. 127.0.0.1:6060; reach it with kubectl port-forward); empty disables")
}

// Validate reports every problem at once.
func (c *Telemetry) Validate() error {
	var errs []error
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %g: want a number between 0 and 1", c.SampleRatio))
	}
	if c.OTLPEndpoint != "" {
		if u, err := url.Parse(c.OTLPEndpoint); err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q: want a URL like http://collector:4318", c.OTLPEndpoint))
		}
	}
	if c.PprofAddr != "" {
		if host, _, err := net.SplitHostPort(c.PprofAddr); err != nil || !IsLoopback(host) {
			errs = append(errs, fmt.Errorf("PPROF_ADDR %q: want a loopback host:port like 127.0.0.1:6060 (profiles expose the process' internals)", c.PprofAddr))
		}
	}
	return errors.Join(errs...)
}

// Kafka configures the connection to Kafka and the topic layout.
type Kafka struct {
	Brokers           []string
	ClientID          string
	SASLMechanism     string
	SASLUser          string
	SASLPassword      string
	TLS               bool
	TLSCAFile         string
	TLSCertFile       string
	TLSKeyFile        string
	TopicPrefix       string
	OrderPartitions   int
	ProductPartitions int
	ReplicationFactor int
	MinInsyncReplicas int
}

// Embedded is the KAFKA_BROKERS value that selects the in-process kfake
// broker (only `orderpipe dev` honours it).
const Embedded = "embedded"

// Register binds the settings.
func (c *Kafka) Register(s *Set) {
	s.List(&c.Brokers, "KAFKA_BROKERS", "kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	s.String(&c.ClientID, "KAFKA_CLIENT_ID", "kafka-client-id", "orderpipe", "Kafka client.id prefix")
	s.String(&c.SASLMechanism, "KAFKA_SASL_MECHANISM", "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or empty")
	s.String(&c.SASLUser, "KAFKA_SASL_USERNAME", "kafka-sasl-username", "", "SASL user name")
	s.Secret(&c.SASLPassword, "KAFKA_SASL_PASSWORD", "kafka-sasl-password", "SASL password")
	s.Bool(&c.TLS, "KAFKA_TLS", "kafka-tls", false, "connect to Kafka with TLS")
	s.String(&c.TLSCAFile, "KAFKA_TLS_CA_FILE", "kafka-tls-ca-file", "", "PEM CA bundle for Kafka TLS (system roots when empty)")
	s.String(&c.TLSCertFile, "KAFKA_TLS_CERT_FILE", "kafka-tls-cert-file", "", "PEM client certificate for mutual TLS")
	s.String(&c.TLSKeyFile, "KAFKA_TLS_KEY_FILE", "kafka-tls-key-file", "", "PEM client key for mutual TLS")
	s.String(&c.TopicPrefix, "TOPIC_PREFIX", "topic-prefix", "", "prefix for every topic name (e.g. \"staging.\")")
	s.Int(&c.OrderPartitions, "ORDER_PARTITIONS", "order-partitions", 12, "partitions of the topics partitioned by orderId")
	s.Int(&c.ProductPartitions, "PRODUCT_PARTITIONS", "product-partitions", 12, "partitions of the topics keyed by productId")
	s.Int(&c.ReplicationFactor, "KAFKA_REPLICATION_FACTOR", "kafka-replication-factor", 3, "replication factor for created topics")
	s.Int(&c.MinInsyncReplicas, "KAFKA_MIN_INSYNC_REPLICAS", "kafka-min-insync-replicas", 2, "min.insync.replicas for created topics")
}

// Validate reports every problem at once.
func (c *Kafka) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS is empty: give host:port[,host:port] or \"embedded\""))
	}
	for _, b := range c.Brokers {
		if b == Embedded && len(c.Brokers) == 1 {
			continue
		}
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("KAFKA_BROKERS entry %q: want host:port", b))
		}
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASLUser == "" || c.SASLPassword == "" {
			errs = append(errs, fmt.Errorf("KAFKA_SASL_MECHANISM %s needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD", c.SASLMechanism))
		}
	default:
		errs = append(errs, fmt.Errorf("KAFKA_SASL_MECHANISM %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASLMechanism))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together"))
	}
	for env, f := range map[string]string{"KAFKA_TLS_CA_FILE": c.TLSCAFile, "KAFKA_TLS_CERT_FILE": c.TLSCertFile, "KAFKA_TLS_KEY_FILE": c.TLSKeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", env, err))
		}
	}
	if c.OrderPartitions < 1 || c.OrderPartitions > 10000 {
		errs = append(errs, fmt.Errorf("ORDER_PARTITIONS %d: want 1..10000", c.OrderPartitions))
	}
	if c.ProductPartitions < 1 || c.ProductPartitions > 10000 {
		errs = append(errs, fmt.Errorf("PRODUCT_PARTITIONS %d: want 1..10000", c.ProductPartitions))
	}
	if c.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("KAFKA_REPLICATION_FACTOR %d: want ≥ 1", c.ReplicationFactor))
	}
	if c.MinInsyncReplicas < 1 || c.MinInsyncReplicas > c.ReplicationFactor {
		errs = append(errs, fmt.Errorf("KAFKA_MIN_INSYNC_REPLICAS %d: want 1..KAFKA_REPLICATION_FACTOR (%d)", c.MinInsyncReplicas, c.ReplicationFactor))
	}
	return errors.Join(errs...)
}

// Postgres configures the PostgreSQL connection.
type Postgres struct {
	URL      string
	MaxConns int
}

// Register binds the settings.
func (c *Postgres) Register(s *Set) {
	s.String(&c.URL, "DATABASE_URL", "database-url", "postgres://orderpipe@127.0.0.1:5432/orderpipe?sslmode=disable", "PostgreSQL connection URL")
	s.Int(&c.MaxConns, "DATABASE_MAX_CONNS", "database-max-conns", 16, "PostgreSQL pool size")
}

// Validate reports every problem at once.
func (c *Postgres) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, errors.New("DATABASE_URL: want postgres://user[:password]@host:port/db"))
	}
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("DATABASE_MAX_CONNS %d: want ≥ 1", c.MaxConns))
	}
	return errors.Join(errs...)
}

// Redis configures the Redis connection.
type Redis struct {
	URL       string
	KeyPrefix string
}

// Register binds the settings.
func (c *Redis) Register(s *Set) {
	s.String(&c.URL, "REDIS_URL", "redis-url", "redis://127.0.0.1:6379/0", "Redis URL (redis:// or rediss://)")
	s.String(&c.KeyPrefix, "REDIS_KEY_PREFIX", "redis-key-prefix", "", "prefix for every Redis key orderpipe writes (share one Redis between stacks)")
}

// Validate reports every problem at once.
func (c *Redis) Validate() error {
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return errors.New("REDIS_URL: want redis://host:port/db or rediss://…")
	}
	return nil
}

// IsLoopback reports whether host is localhost or a loopback IP.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
