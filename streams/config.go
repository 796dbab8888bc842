package streams

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// Config holds the settings every processor built on streams reads from its
// environment (or flags). Register binds them on a config.Set, so they appear
// in README's configuration table through `orderpipe config`.
type Config struct {
	// InstanceID is the processor slot's stable identity (a StatefulSet pod
	// name such as "inventory-processor-0"). The transactional.id and the
	// group.instance.id derive from it, so a restarted slot fences its dead
	// predecessor's open transaction at once and rejoins without a
	// rebalance. Empty means the host name (the pod name on Kubernetes).
	InstanceID string
	// CommitInterval is the longest a transaction stays open.
	CommitInterval time.Duration
	// CommitRecords ends a transaction early once this many input records
	// are in it.
	CommitRecords int
	// SessionTimeout is the consumer group session timeout.
	SessionTimeout time.Duration
	// TransactionTimeout is the producer's transaction.timeout.ms: how long
	// the broker keeps a dead producer's transaction open before aborting it.
	TransactionTimeout time.Duration
	// Threads is the number of processing threads (see WithThreads).
	Threads int
	// Linger is how long the producer waits to fill a batch, capped at
	// half the CommitInterval. Outputs only become visible at commit, and
	// a commit flushes whatever is lingering, so it costs no latency and
	// saves the broker requests (Kafka Streams lingers 100 ms).
	Linger time.Duration
}

// Register binds the settings.
func (c *Config) Register(s *config.Set) {
	s.String(&c.InstanceID, "INSTANCE_ID", "instance-id", "",
		"stable id of this processor slot (StatefulSet pod name); transactional.id and group.instance.id derive from it; empty = host name")
	s.Duration(&c.CommitInterval, "STREAMS_COMMIT_INTERVAL", "streams-commit-interval", 100*time.Millisecond,
		"longest time a processor's transaction stays open (outputs become visible to read_committed readers at commit)")
	s.Int(&c.CommitRecords, "STREAMS_COMMIT_RECORDS", "streams-commit-records", 20000,
		"input records after which a processor commits its transaction early")
	s.Duration(&c.SessionTimeout, "KAFKA_SESSION_TIMEOUT", "kafka-session-timeout", 10*time.Second,
		"processors' consumer group session timeout: how soon a dead slot's partitions move")
	s.Duration(&c.TransactionTimeout, "KAFKA_TRANSACTION_TIMEOUT", "kafka-transaction-timeout", 10*time.Second,
		"processors' transaction timeout: how long a dead producer's open transaction can block read_committed readers")
	s.Duration(&c.Linger, "STREAMS_PRODUCER_LINGER", "streams-producer-linger", 20*time.Millisecond,
		"how long a processor's producer waits to fill a batch, at most half of STREAMS_COMMIT_INTERVAL (outputs are visible only at commit, which flushes them: fewer, larger produce requests at no latency)")
	s.Int(&c.Threads, "STREAMS_THREADS", "streams-threads", 1,
		"processing threads per processor instance: each is a group member with its own transactional producer (ids get a -i suffix)")
}

var instanceIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if id := c.Instance(); !instanceIDPattern.MatchString(id) {
		errs = append(errs, fmt.Errorf("INSTANCE_ID %q: want 1..200 of [A-Za-z0-9._-]", id))
	}
	if c.CommitInterval <= 0 || c.CommitInterval > time.Minute {
		errs = append(errs, fmt.Errorf("STREAMS_COMMIT_INTERVAL %s: want >0 and ≤1m", c.CommitInterval))
	}
	if c.Linger < 0 || c.Linger > time.Second {
		errs = append(errs, fmt.Errorf("STREAMS_PRODUCER_LINGER %s: want 0..1s", c.Linger))
	}
	if c.Threads < 1 || c.Threads > 64 {
		errs = append(errs, fmt.Errorf("STREAMS_THREADS %d: want 1..64", c.Threads))
	}
	if c.CommitRecords < 1 {
		errs = append(errs, fmt.Errorf("STREAMS_COMMIT_RECORDS %d: want ≥ 1", c.CommitRecords))
	}
	if c.SessionTimeout < 6*time.Second || c.SessionTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("KAFKA_SESSION_TIMEOUT %s: want 6s..5m (the broker's group.min/max.session.timeout.ms)", c.SessionTimeout))
	}
	if c.TransactionTimeout < time.Second || c.TransactionTimeout > 15*time.Minute {
		errs = append(errs, fmt.Errorf("KAFKA_TRANSACTION_TIMEOUT %s: want 1s..15m (the broker's transaction.max.timeout.ms)", c.TransactionTimeout))
	} else if c.TransactionTimeout <= 2*c.CommitInterval {
		errs = append(errs, fmt.Errorf("KAFKA_TRANSACTION_TIMEOUT %s must be well above STREAMS_COMMIT_INTERVAL %s", c.TransactionTimeout, c.CommitInterval))
	}
	return errors.Join(errs...)
}

// Instance returns InstanceID, or the host name when it is empty.
func (c *Config) Instance() string {
	if c.InstanceID != "" {
		return c.InstanceID
	}
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

// DefaultConfig returns the defaults Register would set (for tests and
// embedding).
func DefaultConfig() Config {
	var c Config
	c.Register(config.NewSet("defaults", func(string) (string, bool) { return "", false }))
	return c
}

// linger is the producer linger in effect: Linger, at most half the
// commit interval.
func (c *Config) linger() time.Duration { return min(c.Linger, c.CommitInterval/2) }
