// Package sink writes orders into PostgreSQL exactly once: orders.state.v1
// becomes the orders and order_lines rows (newest version wins),
// orders.events.v1 becomes order_status_history (one row per status). It
// reads both read_committed in its own consumer group and writes each poll
// in ONE transaction that also moves the stored offsets (sink_offsets),
// fenced so that two sink instances never both apply the same records; on
// assignment it resumes from the stored offsets. Offsets are also committed
// to Kafka after each transaction, for lag tools only.
//
// PostgreSQL down: the sink stops consuming and retries with backoff; the
// rest of the pipeline keeps going in Kafka and the sink catches up later.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"

	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
)

// Config configures a sink.
type Config struct {
	Kafka config.Kafka
	// Group is the consumer group. Default: TopicPrefix + "order-sink".
	Group string
	// Name owns the sink's rows in sink_offsets. Default: Group. Two sinks
	// with the same Name fence each other whatever their groups.
	Name string
	// MaxBatch is the most records one poll takes. Default 8192.
	MaxBatch int
	// Lanes is how many transactions write one poll in parallel, each for
	// the partitions whose number is its lane modulo Lanes. An order's state
	// and events share a partition number (co-partitioned by orderId), so
	// lanes never touch the same rows. Default 4.
	Lanes int
	// MinBackoff and MaxBackoff bound the retry delay while PostgreSQL
	// fails. Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// InstanceID, when set, is the static group.instance.id: a slot
	// restarted after a crash (kill -9) takes its partitions back at once
	// instead of waiting out the session timeout, and a restart does not
	// rebalance the group. Every running sink of a group needs its own: a
	// second one with the same id fences the first, whose Run then returns
	// ErrInstanceIDInUse.
	InstanceID string
	// SessionTimeout is the group session timeout (KAFKA_SESSION_TIMEOUT):
	// how long a dead member's partitions wait. Default 10s.
	SessionTimeout time.Duration
}

// ErrInstanceIDInUse says another member of the group joined with this
// sink's group.instance.id and fenced it. Two instances sharing an id would
// fence each other in turn, so the sink stops instead of rejoining.
var ErrInstanceIDInUse = errors.New("sink: group.instance.id taken over by another instance (every instance needs its own INSTANCE_ID)")

func (c *Config) defaults() {
	if c.Group == "" {
		c.Group = c.Kafka.TopicPrefix + "order-sink"
	}
	if c.Name == "" {
		c.Name = c.Group
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 8192
	}
	if c.Lanes <= 0 {
		c.Lanes = 4
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(5*time.Second, c.MinBackoff)
	}
}

// Sink is a running PostgreSQL sink.
type Sink struct {
	cfg     Config
	log     *slog.Logger
	store   *Store
	builder Builder
	client  *kgo.Client
	dlq     *kgo.Client
	m       *metrics
	logger  *slog.Logger
	opts    []kgo.Opt

	mu    sync.Mutex
	pos   map[TP]position // assigned partitions and their stored next offset
	epoch uint64
}

type position struct {
	next  int64
	epoch uint64 // changes with every assignment or revocation of the partition
}

// New builds a sink on pool (a read-write pool). It connects lazily.
func New(cfg Config, pool *pgxpool.Pool, logger *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
	cfg.defaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	names := kafka.TopicNames(cfg.Kafka.TopicPrefix)
	s := &Sink{
		cfg:     cfg,
		log:     logger.With("component", "order-sink", "group", cfg.Group),
		store:   NewStore(pool, cfg.Name),
		builder: Builder{StateTopic: names.OrderState, EventsTopic: names.OrderEvents},
		pos:     map[TP]position{},
	}
	var err error
	if s.m, err = newMetrics(reg, cfg.Group); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(names.OrderState, names.OrderEvents),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AdjustFetchOffsetsFn(s.assigned),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.revoked),
		kgo.SessionTimeout(cfg.SessionTimeout),
		// Responses of a few MB: the next fetch goes out as soon as a poll
		// drains the last one, so fetching overlaps writing.
		kgo.FetchMaxBytes(4 << 20),
		kgo.FetchMaxPartitionBytes(1 << 20),
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	s.logger, s.opts = logger, opts
	if s.client, err = kafka.NewConsumer(cfg.Kafka, logger, opts...); err != nil {
		return nil, err
	}
	if s.dlq, err = kafka.NewProducer(cfg.Kafka, logger); err != nil {
		s.client.Close()
		return nil, err
	}
	return s, nil
}

// Close leaves the group and closes the clients.
func (s *Sink) Close() {
	s.client.Close()
	s.dlq.Close()
}

// assigned runs when partitions are assigned, before fetching starts: it
// replaces the offsets Kafka has with those stored in PostgreSQL (the truth),
// retrying while PostgreSQL is down — the partitions wait, nothing is lost.
func (s *Sink) assigned(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	var tps []TP
	for t, ps := range offsets {
		for p := range ps {
			tps = append(tps, TP{t, p})
		}
	}
	stored, err := retry(ctx, s, "read stored offsets", func() (map[TP]int64, error) { return s.store.Positions(ctx, tps) })
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	for _, tp := range tps {
		next := stored[tp]
		s.pos[tp] = position{next: next, epoch: s.epoch}
		if next >= 0 {
			offsets[tp.Topic][tp.Partition] = kgo.NewOffset().At(next).WithEpoch(-1)
		} else {
			offsets[tp.Topic][tp.Partition] = kgo.NewOffset().AtStart()
		}
	}
	s.log.Info("partitions assigned", "positions", fmtPositions(stored))
	return offsets, nil
}

func (s *Sink) revoked(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	for t, ps := range lost {
		for _, p := range ps {
			delete(s.pos, TP{t, p})
			s.m.forget(t, p)
		}
	}
}

// snapshot returns the positions to build a batch against: those of the
// partitions still in the assignment (epoch) the records came from.
func (s *Sink) snapshot(epochs map[TP]uint64) positions {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(positions, len(epochs))
	for tp, e := range epochs {
		if p, ok := s.pos[tp]; ok && p.epoch == e {
			out[tp] = p
		}
	}
	return out
}

// positions are the assigned partitions' positions at one moment.
type positions map[TP]position

func (snap positions) from(tp TP) (int64, bool) {
	p, ok := snap[tp]
	return p.next, ok
}

// advance records committed positions, unless the partition changed hands
// since the batch was built.
func (s *Sink) advance(snap positions, next map[TP]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tp, n := range next {
		if cur, ok := s.pos[tp]; ok && cur.epoch == snap[tp].epoch {
			s.pos[tp] = position{next: n, epoch: cur.epoch}
		}
	}
}

// errRewind says PostgreSQL's stored position of a partition is behind what
// the sink has consumed — PostgreSQL crashed and lost its last commits
// (synchronous_commit is off for the sink: rows and offsets are lost
// together), or someone reset sink_offsets: the sink rejoins and resumes
// from the stored positions.
var errRewind = errors.New("sink: a stored position moved backwards")

// Run consumes until ctx is done. It returns nil on shutdown and an error
// only when the sink cannot go on.
func (s *Sink) Run(ctx context.Context) error {
	for {
		err := s.consume(ctx)
		if !errors.Is(err, errRewind) {
			return err
		}
		s.log.Warn("a stored position moved backwards (PostgreSQL lost its last commits in a crash, or sink_offsets was reset); rejoining to resume from PostgreSQL's positions")
		s.client.Close()
		s.mu.Lock()
		s.pos, s.epoch = map[TP]position{}, s.epoch+1
		s.mu.Unlock()
		cl, err := kafka.NewConsumer(s.cfg.Kafka, s.logger, s.opts...)
		if err != nil {
			return err
		}
		s.client = cl
	}
}

func (s *Sink) consume(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	polls := make(chan polled, 1)
	done := make(chan struct{})
	var pollErr error
	go func() {
		defer close(done)
		defer close(polls)
		pollErr = s.poll(ctx, polls)
	}()
	var err error
	for p := range polls {
		started := time.Now()
		if err = s.process(ctx, p); err != nil {
			break
		}
		s.m.process.Observe(time.Since(started).Seconds())
	}
	cancel()
	for range polls { // let the poller see the cancel and stop
	}
	<-done
	switch {
	case parent.Err() != nil:
		return nil
	case err != nil:
		return err
	}
	return pollErr
}

// polled is one poll, decoded and split into lanes, on its way from the
// poller to the writer: the writer writes one poll while the poller fetches
// and decodes the next.
type polled struct {
	lanes  [][]Decoded
	epochs map[TP]uint64 // the assignment each partition's records belong to
}

// poll fetches and decodes until ctx is done. A partition whose assignment
// changed during a poll may have records of the old and the new assignment
// in it: they are dropped and the partition is fetched again from its
// position, so every record the writer gets for a partition continues the
// stream from where PostgreSQL's position says it stands.
func (s *Sink) poll(ctx context.Context, out chan<- polled) error {
	for {
		before := s.epochs()
		t := time.Now()
		fetches := s.client.PollRecords(ctx, s.cfg.MaxBatch)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		s.m.pollWait.Observe(time.Since(t).Seconds())
		after := s.epochs()
		var fenced bool
		fetches.EachError(func(t string, p int32, err error) {
			switch {
			case errors.Is(err, kerr.FencedInstanceID):
				fenced = true
			case !errors.Is(err, context.Canceled):
				s.log.Warn("fetch error", "topic", t, "partition", p, "error", err)
			}
		})
		if fenced {
			return fmt.Errorf("%w: %q in group %s", ErrInstanceIDInUse, s.cfg.InstanceID, s.cfg.Group)
		}
		lanes := make([][]Record, s.cfg.Lanes)
		var refetch []TP
		n := 0
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			tp := TP{fp.Topic, fp.Partition}
			epoch, assigned := after[tp]
			if !assigned || len(fp.Records) == 0 {
				return
			}
			if was, ok := before[tp]; !ok || was != epoch {
				refetch = append(refetch, tp)
				return
			}
			s.m.observeLag(fp)
			l := int(fp.Partition) % s.cfg.Lanes
			for _, r := range fp.Records {
				lanes[l] = append(lanes[l], toRecord(r))
			}
			n += len(fp.Records)
		})
		if len(refetch) > 0 {
			if err := s.refetch(ctx, refetch); err != nil {
				return err
			}
		}
		if n == 0 {
			continue
		}
		p := polled{lanes: make([][]Decoded, len(lanes)), epochs: after}
		var wg sync.WaitGroup
		for i, lane := range lanes {
			if len(lane) == 0 {
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); p.lanes[i] = s.builder.Decode(lane) }()
		}
		wg.Wait()
		select {
		case out <- p:
		case <-ctx.Done():
			return nil
		}
	}
}

// epochs returns the assignment epoch of every assigned partition.
func (s *Sink) epochs() map[TP]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[TP]uint64, len(s.pos))
	for tp, p := range s.pos {
		out[tp] = p.epoch
	}
	return out
}

// refetch seeks partitions back to their positions (franz-go drops what it
// has buffered for them); a partition with nothing stored yet goes back to
// its log start.
func (s *Sink) refetch(ctx context.Context, tps []TP) error {
	seek := map[string]map[int32]kgo.EpochOffset{}
	var fromStart []string
	s.mu.Lock()
	next := map[TP]int64{}
	for _, tp := range tps {
		if p, ok := s.pos[tp]; ok {
			next[tp] = p.next
			if p.next < 0 {
				fromStart = append(fromStart, tp.Topic)
			}
		}
	}
	s.mu.Unlock()
	var starts kadm.ListedOffsets
	if len(fromStart) > 0 {
		var err error
		if starts, err = kadm.NewClient(s.client).ListStartOffsets(ctx, fromStart...); err != nil {
			return fmt.Errorf("sink: log start offsets: %w", err)
		}
	}
	for tp, n := range next {
		if n < 0 {
			o, ok := starts.Lookup(tp.Topic, tp.Partition)
			switch {
			case !ok:
				return fmt.Errorf("sink: no log start offset for %s/%d", tp.Topic, tp.Partition)
			case o.Err != nil:
				return fmt.Errorf("sink: log start offset of %s/%d: %w", tp.Topic, tp.Partition, o.Err)
			}
			n = o.Offset
		}
		if seek[tp.Topic] == nil {
			seek[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		seek[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: n}
	}
	s.client.SetOffsets(seek)
	return nil
}

func toRecord(r *kgo.Record) Record {
	return Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value,
		CEID: kafka.Header(r, kafka.HeaderID), CEType: kafka.Header(r, kafka.HeaderType), Headers: r.Headers}
}

// process writes one decoded poll, one transaction per lane. Fenced partitions
// (PostgreSQL's position moved on: another sink wrote them, or our own
// COMMIT went through although its answer was lost) are re-assembled from
// the stored position — a poll's records of a partition are contiguous, so
// those at or after it still are — and the transaction is retried. Records
// PostgreSQL refuses are isolated.
func (s *Sink) process(ctx context.Context, p polled) error {
	var g errgroup.Group
	for _, lane := range p.lanes {
		if len(lane) == 0 {
			continue
		}
		g.Go(func() error { return s.write(ctx, lane, p.epochs, map[recordID]bool{}) })
	}
	return g.Wait()
}

// write writes decoded records in one transaction (see process); dead holds
// what was dead-lettered already.
func (s *Sink) write(ctx context.Context, decoded []Decoded, epochs map[TP]uint64, dead map[recordID]bool) error {
	start := time.Now()
	for {
		snap := s.snapshot(epochs)
		batch := Assemble(decoded, snap.from)
		if batch.Empty() {
			return nil
		}
		if err := s.deadLetter(ctx, batch.Poison, dead); err != nil {
			return err
		}
		built := time.Now()
		res, err := retry(ctx, s, "write batch", func() (Result, error) { return s.store.Write(ctx, batch) })
		var fenced *FencedError
		switch {
		case errors.As(err, &fenced):
			if err := s.fence(fenced, snap); err != nil {
				return err
			}
			continue
		case IsDataError(err):
			s.log.Warn("PostgreSQL refused a batch; writing it record by record to find the bad one", "error", err)
			return s.isolate(ctx, decoded, epochs, dead)
		case err != nil:
			return err
		}
		s.committed(batch, snap, res, time.Since(start))
		s.log.Debug("batch committed", "records", batch.Records, "orders", res.Orders, "history", res.History,
			"decode", built.Sub(start), "write", time.Since(built))
		return nil
	}
}

// committed updates positions, metrics and the Kafka commit after a batch.
func (s *Sink) committed(b Batch, snap positions, res Result, took time.Duration) {
	next := make(map[TP]int64, len(b.Spans))
	commit := map[string]map[int32]kgo.EpochOffset{}
	for tp, span := range b.Spans {
		next[tp] = span.Last + 1
		if commit[tp.Topic] == nil {
			commit[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		commit[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: span.Last + 1}
		s.m.position(tp, span.Last+1)
	}
	s.advance(snap, next)
	s.m.batch(b, res, took)
	// For lag tools only: PostgreSQL holds the offsets the sink resumes from.
	s.client.CommitOffsets(context.Background(), commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			s.log.Debug("kafka offset commit (lag tools only) failed", "error", err)
		}
	})
}

// fence moves fenced partitions' positions forward to what PostgreSQL
// holds. A stored position behind ours cannot be reached from the records
// at hand: errRewind.
func (s *Sink) fence(f *FencedError, snap positions) error {
	s.m.fenced.Add(float64(len(f.Stored)))
	s.log.Info("fenced: PostgreSQL's positions moved on (another sink, or our own commit whose answer was lost); continuing from them",
		"positions", fmtPositions(f.Stored))
	s.mu.Lock()
	defer s.mu.Unlock()
	for tp, stored := range f.Stored {
		cur, ok := s.pos[tp]
		if !ok || cur.epoch != snap[tp].epoch {
			continue // revoked or reassigned meanwhile: the assignment loads its own position
		}
		if stored < cur.next {
			return errRewind
		}
		s.pos[tp] = position{next: stored, epoch: cur.epoch}
	}
	return nil
}

type recordID struct {
	tp     TP
	offset int64
}

// isolate writes records one at a time until it meets the one PostgreSQL
// refuses, dead-letters it, moves its partition past it, and goes back to
// writing the rest in one transaction.
func (s *Sink) isolate(ctx context.Context, decoded []Decoded, epochs map[TP]uint64, dead map[recordID]bool) error {
	sorted := append([]Decoded(nil), decoded...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].Record, sorted[j].Record
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	})
	for i := 0; i < len(sorted); i++ {
		d := sorted[i]
		snap := s.snapshot(epochs)
		one := Assemble([]Decoded{d}, snap.from)
		if one.Empty() {
			continue
		}
		if err := s.deadLetter(ctx, one.Poison, dead); err != nil {
			return err
		}
		res, err := retry(ctx, s, "write record", func() (Result, error) { return s.store.Write(ctx, one) })
		if IsDataError(err) {
			if err := s.deadLetter(ctx, []Poison{{Record: d.Record, Reason: schemas.DLQReasonRefused, Err: "PostgreSQL refused it: " + err.Error()}}, dead); err != nil {
				return err
			}
			skip := Batch{Spans: one.Spans}
			res, err = retry(ctx, s, "skip record", func() (Result, error) { return s.store.Write(ctx, skip) })
			if err == nil {
				s.committed(skip, snap, res, 0)
				return s.write(ctx, decoded, epochs, dead)
			}
		}
		var fenced *FencedError
		switch {
		case errors.As(err, &fenced):
			if err := s.fence(fenced, snap); err != nil {
				return err
			}
			i-- // the same record against the moved position (skipped if below it)
			continue
		case err != nil:
			return err
		}
		s.committed(one, snap, res, 0)
	}
	return nil
}

// deadLetter produces poison records to their topic's DLQ (synchronously,
// retrying while Kafka fails) so their partition can move on.
func (s *Sink) deadLetter(ctx context.Context, poison []Poison, dead map[recordID]bool) error {
	var recs []*kgo.Record
	for _, p := range poison {
		id := recordID{TP{p.Record.Topic, p.Record.Partition}, p.Record.Offset}
		if dead[id] {
			continue
		}
		dead[id] = true
		s.log.Warn("dead-lettering a record", "topic", p.Record.Topic, "partition", p.Record.Partition, "offset", p.Record.Offset,
			"reason", p.Reason, "error", p.Err)
		recs = append(recs, dlqRecord(p, "order-sink", s.cfg.Group, time.Now()))
	}
	if len(recs) == 0 {
		return nil
	}
	_, err := retry(ctx, s, "dead-letter", func() (struct{}, error) {
		return struct{}{}, s.dlq.ProduceSync(ctx, recs...).FirstErr()
	})
	if err == nil {
		s.m.deadLetters.Add(float64(len(recs)))
	}
	return err
}

func fmtPositions(m map[TP]int64) string {
	keys := make([]TP, 0, len(m))
	for tp := range m {
		keys = append(keys, tp)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Topic != keys[j].Topic {
			return keys[i].Topic < keys[j].Topic
		}
		return keys[i].Partition < keys[j].Partition
	})
	out := ""
	for _, tp := range keys {
		out += fmt.Sprintf("%s/%d@%s ", tp.Topic, tp.Partition, strconv.FormatInt(m[tp], 10))
	}
	return out
}
