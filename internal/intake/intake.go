package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/problem"
	"github.com/orderpipe/orderpipe/schemas"
)

var errRateLimited = errors.New("intake: rate limited")

// Source is the CloudEvents source of intake records.
const Source = "/orderpipe/ingress"

// Deps are what an Intake runs on. Producer must have been built with
// ProducerOpts; Redis may be nil (always degraded mode).
type Deps struct {
	Kafka    config.Kafka
	Redis    config.Redis
	Producer *kgo.Client
	RDB      redis.UniversalClient
	Logger   *slog.Logger
	Metrics  prometheus.Registerer
	Tracer   trace.TracerProvider
}

// Intake turns validated orders into durable records.
type Intake struct {
	cfg        Config
	topics     kafka.Names
	partitions int
	producer   *kgo.Client
	idem       *idemStore
	redisRDB   redis.UniversalClient
	redisCB    circuitbreaker.CircuitBreaker[any]
	kafkaCB    circuitbreaker.CircuitBreaker[any]
	bulk       bulkhead.Bulkhead[any]
	global     ratelimiter.RateLimiter[any]
	scopes     *scopeLimiters
	m          *metrics
	log        *slog.Logger
	tracer     trace.Tracer
	late       sync.WaitGroup
	fill       *backfill // idempotency records of orders accepted in degraded mode
	prefix     string
}

// ProducerOpts are the options the intake's producer needs on top of
// kafka.NewProducer's: requests go to their orderId's partition (set by the
// intake), everything else by key as usual; the buffer is larger than the
// in-flight bound so a produce never blocks.
func ProducerOpts(k config.Kafka, cfg Config) []kgo.Opt {
	return []kgo.Opt{
		kgo.RecordPartitioner(requestPartitioner{topic: kafka.TopicNames(k.TopicPrefix).OrderRequests, byKey: kgo.StickyKeyPartitioner(nil)}),
		kgo.MaxBufferedRecords(2*cfg.MaxInFlight + 1024),
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchCompression(codecs[cfg.Compression]),
		kgo.RecordDeliveryTimeout(2 * cfg.ProduceTimeout),
	}
}

var codecs = map[string]kgo.CompressionCodec{
	"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(), "snappy": kgo.SnappyCompression(), "none": kgo.NoCompression(),
}

// requestPartitioner honours Record.Partition on orders.requests.v1 (set to
// the orderId's partition) and partitions every other topic by key.
type requestPartitioner struct {
	topic string
	byKey kgo.Partitioner
}

func (p requestPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	if t == p.topic {
		return kgo.ManualPartitioner().ForTopic(t)
	}
	return p.byKey.ForTopic(t)
}

// New builds an Intake.
func New(cfg Config, d Deps) (*Intake, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Producer == nil {
		return nil, errors.New("intake: no producer")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = prometheus.NewRegistry()
	}
	if d.Tracer == nil {
		d.Tracer = noop.NewTracerProvider()
	}
	in := &Intake{
		cfg: cfg, topics: kafka.TopicNames(d.Kafka.TopicPrefix), partitions: d.Kafka.OrderPartitions,
		producer: d.Producer, log: d.Logger, m: newMetrics(d.Metrics), tracer: d.Tracer.Tracer("orderpipe/intake"),
		bulk:    bulkhead.New[any](uint(cfg.MaxInFlight)),
		kafkaCB: circuitbreaker.NewBuilder[any]().WithFailureThresholdRatio(5, 10).WithDelay(cfg.BreakerDelay).WithSuccessThreshold(3).Build(),
		redisCB: circuitbreaker.NewBuilder[any]().WithFailureThreshold(5).WithDelay(time.Second).Build(),
		prefix:  d.Redis.KeyPrefix,
		fill:    newBackfill(),
	}
	if in.partitions < 1 {
		return nil, errors.New("intake: ORDER_PARTITIONS must be ≥ 1")
	}
	if d.RDB != nil {
		in.redisRDB = d.RDB
		in.idem = &idemStore{rdb: d.RDB, fast: d.RDB, prefix: d.Redis.KeyPrefix, inflight: cfg.InFlightTTL, ttl: cfg.IdempotencyTTL}
		// Concurrent requests' begin/accept commands share pipelined writes:
		// one syscall pair for many requests instead of one each.
		if c, ok := d.RDB.(*redis.Client); ok {
			if ap, err := c.AutoPipeline(); err == nil {
				in.idem.fast = ap
			}
		}
	}
	if cfg.GlobalRPS > 0 {
		in.global = ratelimiter.NewBursty[any](uint(cfg.GlobalRPS), time.Second)
	}
	if cfg.ScopeRPS > 0 {
		in.scopes = newScopeLimiters(cfg.ScopeRPS)
	}
	return in, nil
}

// Submission is one order request: the idempotency scope and key, and the
// validated order (see Parse).
type Submission struct {
	Scope string // the JWT subject when auth is on, else the order's customerId
	Key   string // the Idempotency-Key (a cart's id for a checkout)
	Order Order
}

// Accepted is a 202 answer.
type Accepted struct {
	OrderID  string
	Outcome  Outcome // new, replay or degraded
	Location string  // /api/v1/orders/{orderId}
}

// Submit decides and, when needed, produces one order request. It returns
// once the record is acknowledged by every in-sync replica (or was already
// accepted). Any other answer is a *problem.Problem carrying its status:
// 409 in flight, 422 key reused with another body, 429 rate limited, 503
// Kafka unavailable or overloaded (with Retry-After).
func (in *Intake) Submit(ctx context.Context, s Submission) (Accepted, error) {
	if p := ValidateKey(s.Key); p != nil {
		return Accepted{}, p
	}
	if s.Scope == "" {
		s.Scope = s.Order.CustomerID
	}
	if in.global != nil && !in.global.TryAcquirePermit() {
		in.m.rejected.WithLabelValues("rate_limited").Inc()
		return Accepted{}, problem.New(http.StatusTooManyRequests, TypeRateLimited, "the service is at its order rate limit; retry later").WithRetryAfter(time.Second)
	}
	orderID := schemas.OrderID(s.Scope, s.Key)
	rec := record{bodyHash: BodyHash(s.Order), scope: s.Scope, customerID: s.Order.CustomerID}

	outcome, rec, claimed := in.begin(ctx, orderID, rec)
	switch outcome {
	case OutcomeReplay:
		return in.accepted(orderID, outcome), nil
	case OutcomeConflict:
		p := problem.New(http.StatusUnprocessableEntity, TypeKeyReused, "this Idempotency-Key was already used with a different request body")
		p.OrderID = orderID
		return Accepted{}, p
	case OutcomeInFlight:
		p := problem.New(http.StatusConflict, TypeKeyInFlight, "a request with this Idempotency-Key is still being processed; retry shortly")
		p.OrderID = orderID
		return Accepted{}, p.WithRetryAfter(time.Second)
	}

	// The per-customer limit counts new orders only: retries of a known key
	// (replay, 409, 422) cost no Kafka write and must keep their answers.
	if in.scopes != nil && !in.scopes.allow(s.Scope) {
		in.finish(orderID, rec, claimed, errRateLimited)
		in.m.rejected.WithLabelValues("scope_rate_limited").Inc()
		return Accepted{}, problem.New(http.StatusTooManyRequests, TypeRateLimited, "too many orders for this customer; retry later").WithRetryAfter(time.Second)
	}
	value, err := json.Marshal(schemas.OrderRequest{
		OrderID: orderID, Scope: s.Scope, IdempotencyKey: s.Key, BodyHash: rec.bodyHash,
		CustomerID: s.Order.CustomerID, ShippingAddress: s.Order.ShippingAddress, Lines: s.Order.Lines,
		Currency: s.Order.Currency, ReceivedAt: time.Now().UTC(),
	})
	if err != nil {
		in.finish(orderID, rec, claimed, err)
		return Accepted{}, fmt.Errorf("intake: encode request %s: %w", orderID, err)
	}
	produce := func(ctx context.Context) *kgo.Record {
		r := kafka.NewRecord(ctx, in.topics.OrderRequests, schemas.RequestKey(s.Scope, s.Key), value,
			kafka.Event{Type: schemas.TypeOrderRequested, Source: Source})
		r.Partition = kafka.PartitionFor([]byte(orderID), in.partitions)
		return r
	}
	if err := in.produce(ctx, produce, func(err error) { in.finish(orderID, rec, claimed, err) }); err != nil {
		return Accepted{}, err
	}
	if outcome == OutcomeDegraded {
		in.enqueueBackfill(orderID, rec)
	}
	return in.accepted(orderID, outcome), nil
}

func (in *Intake) accepted(orderID string, o Outcome) Accepted {
	return Accepted{OrderID: orderID, Outcome: o, Location: Location(orderID)}
}

// begin runs the Redis fast path; Redis trouble means degraded mode.
func (in *Intake) begin(ctx context.Context, orderID string, rec record) (Outcome, record, bool) {
	if in.idem == nil || !in.redisCB.TryAcquirePermit() {
		in.m.outcomes[OutcomeDegraded].Inc()
		return OutcomeDegraded, rec, false
	}
	outcome, got, err := in.idem.begin(ctx, orderID, rec)
	if err != nil {
		in.redisCB.RecordFailure()
		in.m.redisErrors.Inc()
		in.log.WarnContext(ctx, "idempotency fast path unavailable; accepting in degraded mode", "orderId", orderID, "error", err)
	} else {
		in.redisCB.RecordSuccess()
	}
	in.m.outcomes[outcome].Inc()
	return outcome, got, outcome == OutcomeNew
}

// finish records the produce result in Redis: accepted for the window, or
// released so a retry can try again. It runs once per claimed attempt.
func (in *Intake) finish(orderID string, rec record, claimed bool, produceErr error) {
	if !claimed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var err error
	if produceErr == nil {
		err = in.idem.accept(ctx, orderID, rec)
	} else {
		err = in.idem.release(ctx, orderID, rec)
	}
	if err != nil {
		in.m.redisErrors.Inc()
		in.log.Warn("idempotency record not updated; it expires with its in-flight TTL", "orderId", orderID, "produced", produceErr == nil, "error", err)
	}
}

// produce sends one record through the bulkhead and circuit breaker and
// waits for its acknowledgement up to ProduceTimeout. done runs exactly once
// with the produce result, before produce returns or, when the wait gave up,
// later in the background.
func (in *Intake) produce(ctx context.Context, build func(context.Context) *kgo.Record, done func(error)) error {
	if !in.bulk.TryAcquirePermit() {
		in.m.rejected.WithLabelValues("overloaded").Inc()
		done(bulkhead.ErrFull)
		return problem.New(http.StatusServiceUnavailable, TypeUnavailable, "too many orders are waiting for Kafka; retry shortly").WithRetryAfter(time.Second)
	}
	if !in.kafkaCB.TryAcquirePermit() {
		in.bulk.ReleasePermit()
		in.m.rejected.WithLabelValues("breaker_open").Inc()
		done(circuitbreaker.ErrOpen)
		return problem.New(http.StatusServiceUnavailable, TypeUnavailable, "Kafka is unavailable; retry later").WithRetryAfter(max(in.kafkaCB.RemainingDelay(), time.Second))
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.cfg.ProduceTimeout)
	pctx, span := in.tracer.Start(pctx, "publish "+in.topics.OrderRequests, trace.WithSpanKind(trace.SpanKindProducer))
	r := build(pctx)
	span.SetAttributes(attribute.String("messaging.destination.name", r.Topic), attribute.Int("messaging.destination.partition.id", int(r.Partition)))
	start := time.Now()
	in.m.inflight.Inc()
	result := make(chan error, 1)
	in.producer.Produce(pctx, r, func(_ *kgo.Record, err error) { result <- err })
	complete := func(err error) {
		cancel()
		in.m.inflight.Dec()
		if err != nil {
			in.m.produceErr.Observe(time.Since(start).Seconds())
			in.kafkaCB.RecordFailure()
			span.RecordError(err)
		} else {
			in.m.produceOK.Observe(time.Since(start).Seconds())
			in.kafkaCB.RecordSuccess()
		}
		span.End()
		in.bulk.ReleasePermit()
		done(err)
	}
	var err error
	select {
	case err = <-result:
	case <-pctx.Done():
		// The record fails at its context deadline unless it is already on
		// the wire; give the client a moment, then answer and let the
		// result land in the background.
		select {
		case err = <-result:
		case <-time.After(250 * time.Millisecond):
			in.late.Go(func() {
				in.m.lateFinalised.Inc()
				complete(<-result)
			})
			in.m.rejected.WithLabelValues("kafka_timeout").Inc()
			return problem.New(http.StatusServiceUnavailable, TypeUnavailable, "Kafka did not acknowledge the order in time; retry with the same Idempotency-Key").WithRetryAfter(time.Second)
		}
	}
	complete(err)
	if err != nil {
		in.log.WarnContext(ctx, "produce failed", "topic", r.Topic, "partition", r.Partition, "error", err)
		in.m.rejected.WithLabelValues("kafka_error").Inc()
		return problem.New(http.StatusServiceUnavailable, TypeUnavailable, "Kafka did not accept the order; retry with the same Idempotency-Key").WithRetryAfter(time.Second)
	}
	return nil
}

// Cancel produces a cancel command for orderID on orders.commands.v1 (key
// orderId) and returns once it is acknowledged. Repeating it is harmless:
// every cancel of an order carries the same commandId.
func (in *Intake) Cancel(ctx context.Context, orderID, scope, reason string) error {
	value, err := json.Marshal(schemas.OrderCommand{
		Type: schemas.CommandCancel, OrderID: orderID, CommandID: CancelCommandID(orderID),
		Scope: scope, Reason: reason, RequestedAt: time.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("intake: encode cancel %s: %w", orderID, err)
	}
	build := func(ctx context.Context) *kgo.Record {
		return kafka.NewRecord(ctx, in.topics.OrderCommands, []byte(orderID), value,
			kafka.Event{Type: schemas.TypeOrderCancelReq, Source: Source})
	}
	return in.produce(ctx, build, func(error) {})
}

// CancelCommandID is the commandId of every cancel of orderID (UUIDv5).
func CancelCommandID(orderID string) string {
	return uuid.NewSHA1(cancelNamespace, []byte(orderID)).String()
}

var cancelNamespace = uuid.MustParse("3b0c7f0e-2f4a-5d3b-8c71-5e9a0d6c4f21")

// Location is the URL path of an order.
func Location(orderID string) string { return "/api/v1/orders/" + orderID }

// Close waits for produce results that arrived after their request was
// answered, so their idempotency records are settled. The caller flushes
// and closes the producer afterwards.
func (in *Intake) Close(ctx context.Context) error {
	defer in.closeBackfill(ctx)
	done := make(chan struct{})
	go func() { in.late.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("intake: late produce results still pending: %w", ctx.Err())
	}
}
