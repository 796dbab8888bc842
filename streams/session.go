package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/orderpipe/orderpipe/pkg/kafka"
)

// session is one Kafka client's lifetime: the group member with its
// transactional producer, a restore consumer, and the tasks it owns. A
// non-retriable error ends the session; Run starts a new one.
type session struct {
	p      *Processor
	th     *thread
	env    *taskEnv // the processor's, with this session's produce
	log    *slog.Logger
	ctx    context.Context // for produces; outlives Run's ctx so the last commit can finish
	cancel context.CancelFunc
	cl     *kgo.Client
	gts    *kgo.GroupTransactSession // nil when at-least-once
	rcl    *kgo.Client               // restore consumer
	adm    *kadm.Client
	events *eventQueue

	tasks     map[int32]*Task
	suspended map[int32]*Task

	inTxn      bool
	txnStart   time.Time // when the open transaction got its first work
	txnRecords int
	mustAbort  bool
	nextPunct  []time.Time

	errMu      sync.Mutex
	produceErr error
}

const (
	maxBufferedRecords = 1 << 19
	idlePoll           = time.Second
)

func (p *Processor) newSession(ctx context.Context, th *thread) (*session, error) {
	env := *p.env
	s := &session{
		p: p, th: th, env: &env, log: p.env.logger.With("thread", th.idx), events: &eventQueue{},
		tasks: map[int32]*Task{}, suspended: map[int32]*Task{},
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	base, err := kafka.BaseOpts(p.kcfg, nil)
	if err != nil {
		return nil, &fatalError{err}
	}
	opts := append(base, kafka.ProducerOpts()...)
	opts = append(opts, kafka.ConsumerOpts()...)
	opts = append(opts, kgo.ProducerLinger(p.cfg.linger()))
	opts = append(opts, p.o.kgoOpts...)
	opts = append(opts,
		kgo.WithLogger(kslog.New(slog.New(warnHandler{p.o.logger.Handler()}).With("component", "kgo"))),
		kgo.ConsumerGroup(p.groupID),
		kgo.ConsumeTopics(p.topo.topics()...),
		kgo.Balancers(kgo.RangeBalancer()), // partition p of every topic to one member
		kgo.InstanceID(th.instance),
		kgo.SessionTimeout(p.cfg.SessionTimeout),
		kgo.RebalanceTimeout(3*p.cfg.SessionTimeout),
		kgo.HeartbeatInterval(p.cfg.SessionTimeout/4),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // consume transaction markers too: caught up means lag 0
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(partitioner(p.manual)),
		kgo.MaxBufferedRecords(maxBufferedRecords),
		kgo.OnPartitionsAssigned(s.events.callback(evAssigned)),
		kgo.OnPartitionsRevoked(s.events.callback(evRevoked)),
		kgo.OnPartitionsLost(s.events.callback(evLost)),
	)
	if p.o.eos {
		opts = append(opts, kgo.TransactionalID(th.txnID), kgo.TransactionTimeout(p.cfg.TransactionTimeout))
		gts, err := kgo.NewGroupTransactSession(opts...)
		if err != nil {
			return nil, &fatalError{fmt.Errorf("kafka client: %w", err)}
		}
		s.gts, s.cl = gts, gts.Client()
		// Initialise the producer id now, before joining the group: with
		// our stable transactional.id this fences a dead predecessor and
		// aborts its open transaction at once.
		if _, _, err := s.cl.ProducerID(ctx); err != nil {
			s.cl.Close()
			return nil, fmt.Errorf("init transactional producer %s: %w", th.txnID, err)
		}
	} else {
		opts = append(opts, kgo.DisableAutoCommit())
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, &fatalError{fmt.Errorf("kafka client: %w", err)}
		}
		s.cl = cl
	}
	rcl, err := kafka.NewClient(p.kcfg, nil,
		kgo.WithLogger(kslog.New(slog.New(warnHandler{p.o.logger.Handler()}).With("component", "kgo-restore"))),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // see the record at end-1 even when it is a marker
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.FetchMaxPartitionBytes(16<<20),
	)
	if err != nil {
		s.cl.Close()
		return nil, &fatalError{err}
	}
	s.rcl = rcl
	s.adm = kadm.NewClient(s.cl)
	s.nextPunct = make([]time.Time, len(p.topo.punctuators))
	now := p.o.clock()
	for i, pu := range p.topo.punctuators {
		s.nextPunct[i] = now.Add(pu.every)
	}
	s.env.produce = s.produce
	s.env.promise = s.promise
	return s, nil
}

func partitioner(manual map[string]bool) kgo.Partitioner {
	keyed := kgo.StickyKeyPartitioner(nil) // murmur2 of the key, as Kafka's default partitioner
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		if manual[topic] {
			return func(r *kgo.Record, _ int) int { return int(r.Partition) }
		}
		tp := keyed.ForTopic(topic)
		return func(r *kgo.Record, n int) int { return tp.Partition(r, n) }
	})
}

func (s *session) produce(r *kgo.Record) { s.cl.Produce(s.ctx, r, s.promise) }

func (s *session) produceChangelog(r *kgo.Record, promise func(*kgo.Record, error)) {
	s.cl.Produce(s.ctx, r, promise)
}

func (s *session) promise(_ *kgo.Record, err error) {
	if err != nil {
		s.fail(err)
	}
}

func (s *session) fail(err error) {
	s.errMu.Lock()
	if s.produceErr == nil {
		s.produceErr = err
	}
	s.errMu.Unlock()
}

func (s *session) takeProduceErr() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	err := s.produceErr
	s.produceErr = nil
	return err
}

// close drops every task and closes the clients. The group is not left: a
// static member keeps its assignment until its session times out or the
// slot comes back.
func (s *session) close() {
	for p, t := range s.tasks {
		s.dropTask(p, t)
	}
	for p, t := range s.suspended {
		s.dropTask(p, t)
	}
	s.th.tasks.Store(0)
	s.p.metrics.tasks.WithLabelValues(s.p.groupID).Set(float64(s.p.Tasks()))
	s.rcl.Close()
	s.cl.Close()
	s.cancel()
}

func (s *session) dropTask(p int32, t *Task) {
	t.close()
	for _, topic := range s.p.topo.topics() {
		s.p.lag.forget(topic, p)
	}
	delete(s.tasks, p)
	delete(s.suspended, p)
}

func (p *Processor) runSession(ctx context.Context, th *thread) error {
	s, err := p.newSession(ctx, th)
	if err != nil {
		return err
	}
	defer s.close()
	th.ready.Store(true)
	for {
		if ctx.Err() != nil {
			return s.shutdown()
		}
		if err := s.begin(); err != nil {
			return err
		}
		fs := s.poll(ctx)
		if fs.IsClientClosed() {
			return errors.New("kafka client closed")
		}
		if err := s.fetchErrors(fs); err != nil {
			return err
		}
		aborted, err := s.drain(ctx)
		if err != nil {
			return err
		}
		if aborted {
			continue // the abort rewound the consumer: what we polled comes again
		}
		if err := s.process(fs); err != nil {
			return err
		}
		if err := s.punctuate(); err != nil {
			return err
		}
		if err := s.flushTasks(false); err != nil { // stream the changelog out while the transaction is open
			return err
		}
		if s.due() {
			if err := s.commit(ctx); err != nil {
				return err
			}
		}
	}
}

func (s *session) begin() error {
	if s.inTxn {
		return nil
	}
	_ = s.takeProduceErr() // aborted records of the last transaction fail with ErrAborting
	if s.gts != nil {
		if err := s.gts.Begin(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
	}
	s.inTxn = true
	return nil
}

func (s *session) poll(ctx context.Context) kgo.Fetches {
	now := s.p.o.clock()
	wait := idlePoll
	if !s.txnStart.IsZero() {
		wait = s.txnStart.Add(s.p.cfg.CommitInterval).Sub(now)
	}
	for _, next := range s.nextPunct {
		if d := next.Sub(now); d < wait {
			wait = d
		}
	}
	if wait < time.Millisecond {
		wait = time.Millisecond
	}
	tctx, cancelT := context.WithTimeout(ctx, wait)
	defer cancelT()
	pctx, cancel := s.events.pollContext(tctx)
	defer cancel()
	return s.cl.PollRecords(pctx, s.p.o.pollRecords)
}

func (s *session) fetchErrors(fs kgo.Fetches) error {
	var errs []error
	fs.EachError(func(topic string, partition int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if kerr.IsRetriable(err) {
			s.log.Warn("fetch error", "topic", topic, "partition", partition, "error", err)
			return
		}
		errs = append(errs, fmt.Errorf("fetch %s/%d: %w", topic, partition, err))
	})
	return errors.Join(errs...)
}

// process applies table updates first, then handles the input records,
// partition by partition.
func (s *session) process(fs kgo.Fetches) error {
	now := s.p.o.clock()
	var firstErr error
	fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if idx, ok := s.p.tables[ftp.Topic]; ok && firstErr == nil {
			firstErr = s.applyTable(ftp, idx, now)
		}
	})
	fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if h, ok := s.p.inputs[ftp.Topic]; ok && firstErr == nil {
			firstErr = s.processInput(ftp, h, now)
		}
	})
	return firstErr
}

func (s *session) taskFor(ftp kgo.FetchTopicPartition) *Task {
	t := s.tasks[ftp.Partition]
	if t == nil && len(ftp.Records) > 0 {
		// We polled records of a partition we do not own: their offsets
		// must not be committed unprocessed. Abort; the owner reads them.
		s.log.Warn("records of a partition without a task; aborting the transaction",
			"topic", ftp.Topic, "partition", ftp.Partition)
		s.mustAbort = true
		s.markWork(1)
	}
	return t
}

func (s *session) markWork(n int) {
	if n == 0 {
		return
	}
	s.txnRecords += n
	if s.txnStart.IsZero() {
		s.txnStart = s.p.o.clock()
	}
}

func (s *session) applyTable(ftp kgo.FetchTopicPartition, idx int, now time.Time) error {
	t := s.taskFor(ftp)
	if t == nil || len(ftp.Records) == 0 {
		return nil
	}
	tb := t.tables[idx]
	for _, r := range ftp.Records {
		if err := tb.apply(r); err != nil {
			if isStoreError(err) {
				return err
			}
			s.produce(dlqRecord(r, s.p.groupID, ReasonOf(err), err, now))
			t.stats.out++
			s.env.onDLQ(t, r, ReasonOf(err))
			s.log.Warn("table record sent to dead-letter queue", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "error", err)
		}
	}
	s.markWork(len(ftp.Records))
	s.observeLag(ftp, now)
	return nil
}

func (s *session) processInput(ftp kgo.FetchTopicPartition, h Handler, now time.Time) error {
	t := s.taskFor(ftp)
	if t == nil || len(ftp.Records) == 0 {
		return nil
	}
	for _, r := range ftp.Records {
		if r.Attrs.IsControl() {
			continue
		}
		if err := t.handle(h, r, now); err != nil {
			return err
		}
	}
	s.markWork(len(ftp.Records)) // markers too: their offsets must be committed
	s.observeLag(ftp, now)
	return nil
}

func (s *session) observeLag(ftp kgo.FetchTopicPartition, now time.Time) {
	last := ftp.Records[len(ftp.Records)-1]
	var lastTS time.Time
	for i := len(ftp.Records) - 1; i >= 0; i-- {
		if !ftp.Records[i].Attrs.IsControl() {
			lastTS = ftp.Records[i].Timestamp
			break
		}
	}
	end := ftp.LastStableOffset
	if end < 0 {
		end = ftp.HighWatermark
	}
	s.p.lag.observe(ftp.Topic, ftp.Partition, last.Offset+1, end, lastTS, now)
}

func (s *session) punctuate() error {
	if len(s.nextPunct) == 0 {
		return nil
	}
	now := s.p.o.clock()
	for i, pu := range s.p.topo.punctuators {
		if now.Before(s.nextPunct[i]) {
			continue
		}
		s.nextPunct[i] = now.Add(pu.every)
		for _, t := range s.tasks {
			if err := t.punctuate(pu.fn, now); err != nil {
				return err
			}
			s.p.metrics.punctuations.WithLabelValues(s.p.groupID).Inc()
			if t.dirty() && s.txnStart.IsZero() {
				s.txnStart = now
			}
		}
	}
	return nil
}

func (s *session) dirty() bool {
	if s.txnRecords > 0 || s.mustAbort {
		return true
	}
	for _, t := range s.tasks {
		if t.dirty() {
			return true
		}
	}
	return false
}

func (s *session) due() bool {
	if s.txnStart.IsZero() {
		return false
	}
	return s.txnRecords >= s.p.cfg.CommitRecords || s.p.o.clock().Sub(s.txnStart) >= s.p.cfg.CommitInterval
}

func (s *session) resetTxn() {
	s.inTxn, s.mustAbort, s.txnRecords, s.txnStart = false, false, 0, time.Time{}
}

// commit ends the open transaction: it writes every task's changelog
// changes and latest values into it, waits for every produce and checks its
// result, then commits outputs, changelogs and input offsets together — or
// aborts, and then drops the tasks' uncommitted changes.
func (s *session) commit(ctx context.Context) error {
	start := time.Now()
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.p.cfg.TransactionTimeout)
	defer cancel()
	if err := s.flushTasks(true); err != nil {
		_ = s.abort(ectx, "encode_error")
		return &fatalError{err}
	}
	if err := s.cl.Flush(ectx); err != nil {
		_ = s.abort(ectx, "flush_error")
		return fmt.Errorf("flush: %w", err)
	}
	perr := s.takeProduceErr()

	if s.gts == nil { // at-least-once
		if perr != nil {
			s.abortTasks("produce_error")
			s.resetTxn()
			return fmt.Errorf("produce: %w", perr)
		}
		if err := s.commitTasks(start); err != nil {
			return err
		}
		s.resetTxn()
		if err := s.cl.CommitUncommittedOffsets(ectx); err != nil {
			s.log.Warn("commit offsets (at-least-once)", "error", err)
		}
		return nil
	}

	try, reason := kgo.TryCommit, ""
	switch {
	case perr != nil:
		try, reason = kgo.TryAbort, "produce_error"
		s.log.Error("a produce of the transaction failed; aborting it", "error", perr)
	case s.mustAbort:
		try, reason = kgo.TryAbort, "unowned"
	}
	committed, err := s.gts.End(kgo.PreTxnCommitFnContext(ectx, s.fence()), try)
	if err != nil {
		s.abortTasks("end_error")
		s.resetTxn()
		return fmt.Errorf("end transaction: %w", err)
	}
	if !committed {
		if reason == "" {
			reason = "rebalance"
		}
		s.abortTasks(reason)
		s.resetTxn()
		if perr != nil {
			return fmt.Errorf("produce: %w", perr)
		}
		return nil
	}
	err = s.commitTasks(start)
	s.resetTxn()
	return err
}

// flushTasks produces every task's changelog writes since the last flush
// and, at commit (final), its latest values.
func (s *session) flushTasks(final bool) error {
	for _, t := range s.tasks {
		if err := t.flush(s.produceChangelog, final); err != nil {
			return &fatalError{err}
		}
	}
	return nil
}

// commitTasks applies a committed transaction's changes and observes metrics.
func (s *session) commitTasks(start time.Time) error {
	elapsed := time.Since(start).Seconds()
	for _, t := range s.tasks {
		st := t.stats
		if n := st.in + st.out + st.changelog; n > 0 {
			t.m.in.Add(float64(st.in))
			t.m.out.Add(float64(st.out))
			t.m.txnRecords.Observe(float64(n))
			t.m.commitSecs.Observe(elapsed)
		}
		if err := t.commit(); err != nil {
			return err
		}
	}
	s.p.metrics.commits.WithLabelValues(s.p.groupID).Inc()
	return nil
}

func (s *session) abortTasks(reason string) {
	for _, t := range s.tasks {
		t.m.in.Add(float64(t.stats.in))
		t.abort()
	}
	for _, t := range s.suspended {
		t.abort()
	}
	s.p.metrics.aborts.WithLabelValues(s.p.groupID, reason).Inc()
}

// abort ends the open transaction with an abort (if there is one with
// work) and drops the tasks' uncommitted changes.
func (s *session) abort(ctx context.Context, reason string) error {
	if !s.inTxn {
		return nil
	}
	dirty := s.dirty()
	var err error
	if s.gts != nil {
		_, err = s.gts.End(ctx, kgo.TryAbort)
	}
	if dirty {
		s.abortTasks(reason)
	}
	s.resetTxn()
	if err != nil {
		return fmt.Errorf("abort transaction: %w", err)
	}
	return nil
}

// fence makes sure every transaction's offset commit carries the group
// generation, even a transaction that consumed nothing (punctuations
// only): such a TxnOffsetCommit is what the coordinator fences a zombie
// member with (KIP-447). It re-commits one owned partition's committed
// offset when the transaction has no offsets of its own.
func (s *session) fence() func(*kmsg.TxnOffsetCommitRequest) error {
	committed := s.cl.CommittedOffsets()
	return func(req *kmsg.TxnOffsetCommitRequest) error {
		if len(req.Topics) > 0 {
			return nil
		}
		for topic, parts := range committed {
			for part, eo := range parts {
				if _, own := s.tasks[part]; !own {
					continue
				}
				rt := kmsg.NewTxnOffsetCommitRequestTopic()
				rt.Topic = topic
				rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = part, eo.Offset, eo.Epoch, &req.MemberID
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return nil
			}
		}
		return nil
	}
}

// shutdown commits the open transaction (ctx is done) and returns.
func (s *session) shutdown() error {
	if !s.inTxn || !s.dirty() {
		if s.inTxn && s.gts != nil {
			_ = s.abort(context.Background(), "shutdown")
		}
		return nil
	}
	return s.commit(context.Background())
}
