package streams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/lag"
)

// Processor runs a Topology against Kafka: one consumer group member with
// one transactional producer, processing every task it owns on one loop.
type Processor struct {
	topo       *Topology
	kcfg       config.Kafka
	cfg        Config
	o          options
	groupID    string
	instance   string
	txnID      string
	threads    []*thread
	changelogs []string // by store index
	inputs     map[string]Handler
	tables     map[string]int // table topic → index
	manual     map[string]bool

	metrics *metrics
	lag     *lagTracker
	env     *taskEnv

	prepared   atomic.Bool
	partitions int
	running    atomic.Bool

	mu      sync.Mutex
	lastErr error
}

// New checks the topology and settings and returns a processor; nothing
// talks to Kafka until Prepare or Run.
func New(topo *Topology, kcfg config.Kafka, cfg Config, opts ...Opt) (*Processor, error) {
	o := defaultOptions()
	if cfg.Threads > 0 {
		o.threads = cfg.Threads
	}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := errors.Join(topo.Err(), cfg.Validate()); err != nil {
		return nil, err
	}
	p := &Processor{
		topo: topo, kcfg: kcfg, cfg: cfg, o: o,
		groupID:  kcfg.TopicPrefix + topo.group,
		instance: cfg.Instance(),
		inputs:   map[string]Handler{},
		tables:   map[string]int{},
		manual:   map[string]bool{},
	}
	p.txnID = p.groupID + "-" + p.instance
	for i := 0; i < o.threads; i++ {
		th := &thread{idx: i, instance: p.instance, txnID: p.txnID}
		if o.threads > 1 {
			th.instance = fmt.Sprintf("%s-%d", p.instance, i)
			th.txnID = fmt.Sprintf("%s-%d", p.txnID, i)
		}
		p.threads = append(p.threads, th)
	}
	for _, in := range topo.inputs {
		p.inputs[in.topic] = in.h
	}
	for i, tb := range topo.tables {
		p.tables[tb.tableTopic()] = i
	}
	for _, s := range topo.stores {
		name := kafka.Changelog(kcfg.TopicPrefix, topo.group, s.storeName())
		p.changelogs = append(p.changelogs, name)
		p.manual[name] = true
	}
	reg := o.registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	p.metrics = newMetrics(reg)
	p.metrics.initGroup(p.groupID)
	gauges, err := lag.New(reg, p.groupID)
	if err != nil {
		return nil, fmt.Errorf("lag metrics: %w", err)
	}
	p.lag = newLagTracker(gauges)
	p.env = &taskEnv{
		group:  p.groupID,
		logger: o.logger.With("group", p.groupID),
		clock:  o.clock,
		onDLQ: func(t *Task, _ *kgo.Record, reason string) {
			t.stats.dlq++
			p.metrics.dlq.WithLabelValues(p.groupID, itoa(t.partition), reason).Inc()
		},
	}
	return p, nil
}

// GroupID is the consumer group (TOPIC_PREFIX + the topology's group).
func (p *Processor) GroupID() string { return p.groupID }

// TransactionalID is this slot's transactional.id (with WithThreads(n>1),
// thread i uses TransactionalID()+"-i").
func (p *Processor) TransactionalID() string { return p.txnID }

// thread is one group member with its transactional producer; a processor
// runs one per WithThreads.
type thread struct {
	idx      int
	instance string // group.instance.id
	txnID    string
	ready    atomic.Bool
	tasks    atomic.Int32
}

// Changelog returns the changelog topic of the named store.
func (p *Processor) Changelog(store string) string {
	for i, s := range p.topo.stores {
		if s.storeName() == store {
			return p.changelogs[i]
		}
	}
	return ""
}

// Prepare checks that every input and table topic exists with one partition
// count, and creates the stores' changelogs (compacted, same partition
// count) or checks the existing ones. Run calls it; calling it first makes
// a misconfiguration fail at start-up.
func (p *Processor) Prepare(ctx context.Context) error {
	if p.prepared.Load() {
		return nil
	}
	cl, err := kafka.NewClient(p.kcfg, p.o.logger)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := p.topo.topics()
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("describe inputs of %s: %w", p.groupID, err)
	}
	n := 0
	var problems, mismatch []error
	for _, t := range topics {
		d, ok := details[t]
		if !ok || d.Err != nil {
			problems = append(problems, fmt.Errorf("input topic %s does not exist (run `orderpipe topics apply`)", t))
			continue
		}
		if n == 0 {
			n = len(d.Partitions)
		} else if len(d.Partitions) != n {
			mismatch = append(mismatch, fmt.Errorf("input topics of %s are not co-partitioned: %s has %d partitions, %s has %d",
				p.groupID, topics[0], n, t, len(d.Partitions)))
		}
	}
	if len(problems) > 0 {
		return errors.Join(problems...) // retried: `topics apply` may not have run yet
	}
	if len(mismatch) > 0 {
		return &fatalError{errors.Join(mismatch...)}
	}
	if len(p.changelogs) > 0 {
		specs := make([]kafka.Topic, 0, len(p.changelogs))
		for i := range p.topo.stores {
			spec := kafka.ChangelogSpec(p.kcfg, p.changelogs[i], p.topo.coPartition)
			spec.Partitions = n // the inputs' count is the truth; Apply refuses an existing changelog that differs
			specs = append(specs, spec)
		}
		if _, err := kafka.Apply(ctx, cl, specs, io.Discard); err != nil {
			if errors.Is(err, kafka.ErrPartitionMismatch) {
				return &fatalError{fmt.Errorf("changelogs of %s: %w", p.groupID, err)}
			}
			return fmt.Errorf("changelogs of %s: %w", p.groupID, err)
		}
	}
	p.partitions = n
	p.prepared.Store(true)
	return nil
}

// fatalError stops Run instead of recreating the Kafka client.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func isFatal(err error) bool {
	var fe *fatalError
	return errors.As(err, &fe) || isStoreError(err)
}

// Run processes until ctx is done (then it commits the open transaction
// and returns nil) or a fatal error: a store failure, or topics that are
// missing or not co-partitioned. Kafka failures that leave the client
// unusable (fencing, a failed EndTxn) recreate the client and carry on:
// every task is dropped and restored from its changelog.
func (p *Processor) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("streams: Run called twice")
	}
	defer p.running.Store(false)
	for {
		if err := p.Prepare(ctx); err != nil {
			if isFatal(err) || ctx.Err() != nil {
				return err
			}
			p.o.logger.Warn("prepare failed; retrying", "group", p.groupID, "error", err)
			if !sleepCtx(ctx, 2*time.Second) {
				return nil
			}
			continue
		}
		break
	}
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go p.refreshLag(lagCtx)

	errs := make(chan error, len(p.threads))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, th := range p.threads {
		go func() { errs <- p.runThread(runCtx, th) }()
	}
	var first error
	for range p.threads {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel() // a fatal error stops the other threads too
		}
	}
	return first
}

// runThread runs sessions one after another until ctx is done or a fatal
// error.
func (p *Processor) runThread(ctx context.Context, th *thread) error {
	backoff := 250 * time.Millisecond
	for {
		started := time.Now()
		err := p.runSession(ctx, th)
		th.ready.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		if isFatal(err) {
			p.setErr(err)
			return err
		}
		p.setErr(err)
		p.metrics.sessions.WithLabelValues(p.groupID).Inc()
		p.o.logger.Error("kafka session failed; recreating the client, tasks restore from their changelogs",
			"group", p.groupID, "thread", th.idx, "error", err)
		if time.Since(started) > time.Minute {
			backoff = 250 * time.Millisecond
		}
		if !sleepCtx(ctx, backoff) {
			return nil
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// Ready reports whether the processor has a working session whose tasks
// are restored (for /health/ready).
func (p *Processor) Ready(context.Context) error {
	ready := true
	for _, th := range p.threads {
		ready = ready && th.ready.Load()
	}
	if ready {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastErr != nil {
		return fmt.Errorf("streams %s not ready: %w", p.groupID, p.lastErr)
	}
	return fmt.Errorf("streams %s not ready: joining the group or restoring", p.groupID)
}

func (p *Processor) setErr(err error) {
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
}

func (p *Processor) refreshLag(ctx context.Context) {
	cl, err := kafka.NewClient(p.kcfg, nil)
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	t := time.NewTicker(p.o.lagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, p.o.lagInterval)
			p.lag.refresh(rctx, adm, p.o.clock())
			cancel()
		}
	}
}

// Tasks is the number of tasks this instance owns and has restored.
func (p *Processor) Tasks() int {
	n := 0
	for _, th := range p.threads {
		n += int(th.tasks.Load())
	}
	return n
}

// Lag returns the records lag of one input partition as exported (tests).
func (p *Processor) Lag(topic string, partition int32) (int64, bool) {
	return p.lag.lag(topic, partition)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func itoa(p int32) string { return fmt.Sprint(p) }

var _ = slog.LevelInfo
