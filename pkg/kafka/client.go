// Package kafka is the one place that builds franz-go clients for orderpipe:
// seed brokers, SASL and TLS from configuration, and the producer and
// consumer settings the guarantees rely on (idempotent producer with
// acks=all, read_committed consumers).
package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// BaseOpts returns the connection options every client shares: brokers,
// client id, SASL, TLS and logging through slog.
func BaseOpts(cfg config.Kafka, logger *slog.Logger) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.DialTimeout(5 * time.Second),
		kgo.RetryTimeout(30 * time.Second),
	}
	if logger != nil {
		opts = append(opts, kgo.WithLogger(kslog.New(logger.With("component", "kgo"))))
	}
	if cfg.TLS || cfg.TLSCAFile != "" || cfg.TLSCertFile != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch strings.ToUpper(cfg.SASLMechanism) {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("unsupported SASL mechanism %q", cfg.SASLMechanism)
	}
	return opts, nil
}

func tlsConfig(cfg config.Kafka) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("kafka TLS CA: no certificates found in " + cfg.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// ProducerOpts are the settings for a durable producer: idempotent, acks
// from all in-sync replicas, a short linger to batch bursts.
func ProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
		kgo.RecordDeliveryTimeout(30 * time.Second),
	}
}

// ConsumerOpts are the settings for a consumer of transactional topics.
func ConsumerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(250 * time.Millisecond),
	}
}

// NewClient builds a client from the base options plus extra ones. With SASL
// or TLS configured it first checks, within SecurityCheckTimeout, that the
// brokers accept the credentials and certificate (ErrAuth otherwise).
func NewClient(cfg config.Kafka, logger *slog.Logger, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := BaseOpts(cfg, logger)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	if cfg.SASLMechanism != "" || cfg.TLS || cfg.TLSCAFile != "" || cfg.TLSCertFile != "" {
		if err := checkSecurity(cl, cfg); err != nil {
			cl.Close()
			return nil, err
		}
	}
	return cl, nil
}

// NewProducer builds a durable (idempotent, acks=all) producer client.
func NewProducer(cfg config.Kafka, logger *slog.Logger, extra ...kgo.Opt) (*kgo.Client, error) {
	return NewClient(cfg, logger, append(ProducerOpts(), extra...)...)
}

// NewConsumer builds a read_committed consumer client.
func NewConsumer(cfg config.Kafka, logger *slog.Logger, extra ...kgo.Opt) (*kgo.Client, error) {
	return NewClient(cfg, logger, append(ConsumerOpts(), extra...)...)
}
