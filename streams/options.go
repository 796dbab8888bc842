package streams

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Opt tunes a Processor.
type Opt interface{ apply(*options) }

type optFunc func(*options)

func (f optFunc) apply(o *options) { f(o) }

type options struct {
	logger      *slog.Logger
	registerer  prometheus.Registerer
	eos         bool
	clock       func() time.Time
	pollRecords int
	threads     int
	lagInterval time.Duration
	kgoOpts     []kgo.Opt
}

func defaultOptions() options {
	return options{
		logger:      slog.New(slog.DiscardHandler),
		eos:         true,
		clock:       func() time.Time { return time.Now().UTC() },
		pollRecords: 10000,
		threads:     1,
		lagInterval: 5 * time.Second,
	}
}

// WithLogger sets the logger (kgo's logs go through it too, at warn and up).
func WithLogger(l *slog.Logger) Opt { return optFunc(func(o *options) { o.logger = l }) }

// WithRegisterer registers the processor's metrics there (app.Env.Metrics).
// Without it the metrics are kept private.
func WithRegisterer(r prometheus.Registerer) Opt {
	return optFunc(func(o *options) { o.registerer = r })
}

// AtLeastOnce turns transactions off: outputs and changelog writes are
// produced, then input offsets committed, with no atomicity between them.
// A crash or rebalance then re-processes records against state that may
// already hold their effects. It exists as the benchmark baseline (and for
// stateless processors); the order pipeline runs exactly-once.
func AtLeastOnce() Opt { return optFunc(func(o *options) { o.eos = false }) }

// WithClock sets the clock handlers see as Task.Now (tests). The default
// is the wall clock in UTC.
func WithClock(now func() time.Time) Opt { return optFunc(func(o *options) { o.clock = now }) }

// WithPollRecords caps the records taken per poll (default 10000).
func WithPollRecords(n int) Opt { return optFunc(func(o *options) { o.pollRecords = n }) }

// WithLagInterval sets how often lag is refreshed from the brokers (default 5s).
func WithLagInterval(d time.Duration) Opt { return optFunc(func(o *options) { o.lagInterval = d }) }

// WithKafkaOpts appends franz-go options to the processor's clients (tests,
// tuning). They cannot turn off read_committed or the transactional id.
func WithKafkaOpts(opts ...kgo.Opt) Opt {
	return optFunc(func(o *options) { o.kgoOpts = append(o.kgoOpts, opts...) })
}

// WithThreads runs n processing threads (default 1), like Kafka Streams'
// num.stream.threads: each is a group member with its own transactional
// producer (transactional.id and group.instance.id get a "-i" suffix) and
// its own share of the tasks, so one thread processes while another waits
// for its commit. Partitions are spread over all threads of all instances.
func WithThreads(n int) Opt {
	return optFunc(func(o *options) {
		if n > 0 {
			o.threads = n
		}
	})
}
