// Package processor runs the order saga (package saga) on the streams
// runtime: it reads orders.requests.v1, inventory.results.v1 and
// orders.commands.v1 — all partitioned by orderId, so one task sees a
// request and everything that follows it — and writes orders.events.v1,
// inventory.commands.v1 and orders.state.v1 in the transaction that
// consumes the input.
//
// Stores (changelogs <prefix>order-processor-<store>-changelog):
//
//	orders  orderId → saga.Seen   dedupe: request key and body hash, for the idempotency window
//	sagas   orderId → saga.Saga   pending orders only; deleted when the order ends
//	held    orderId → saga.Held   cancels that arrived before their order, for the window
//
// The dedupe store is keyed by orderId rather than by the request key: the
// id is derived from the key (UUIDv5 over scope‖key), so it stands for it,
// and results and cancels (keyed by orderId) find it without a second
// index. The value keeps the request key, so a different key is never
// mistaken for a retry.
package processor

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/orders/saga"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/streams"
)

// Group is the processor's name: consumer group TOPIC_PREFIX+Group.
const Group = "order-processor"

// Store names.
const (
	StoreOrders = "orders"
	StoreSagas  = "sagas"
	StoreHeld   = "held"
)

// ReasonConflict is the dlq_reason of a request whose idempotency key was
// already used with a different body: an audit record, the first body stands.
const ReasonConflict = "idempotency_conflict"

// maxPerPunctuation bounds the timeouts or expiries one punctuation handles,
// so a transaction stays small after a long pause; the rest follow at the
// next punctuation.
const maxPerPunctuation = 5000

// Processor is the order saga's topology.
type Processor struct {
	cfg    Config
	names  kafka.Names
	out    writer
	orders *streams.StoreDef[saga.Seen]
	sagas  *streams.StoreDef[saga.Saga]
	held   *streams.StoreDef[saga.Held]
	m      *metrics
	topo   *streams.Topology
}

// New builds the topology on the topics under names.
func New(names kafka.Names, cfg Config) *Processor {
	p := &Processor{
		cfg: cfg, names: names, out: writer{names: names},
		orders: streams.NewStore(StoreOrders, streams.JSON[saga.Seen](1)),
		sagas:  streams.NewStore(StoreSagas, sagaCodec()),
		held:   streams.NewStore(StoreHeld, streams.JSON[saga.Held](1)),
		m:      newMetrics(),
	}
	p.topo = streams.NewTopology(Group, kafka.ByOrder).
		Input(names.OrderRequests, p.Request).
		Input(names.InventoryResults, p.Result).
		Input(names.OrderCommands, p.Command).
		Store(p.orders).Store(p.sagas).Store(p.held).
		Every(cfg.timerEvery(), p.Timeouts).
		Every(cfg.sweepEvery(), p.Expire)
	return p
}

// Topology is what streams runs.
func (p *Processor) Topology() *streams.Topology { return p.topo }

// Collectors are the processor's own metrics.
func (p *Processor) Collectors() []prometheus.Collector { return p.m.collectors() }

// Request admits an orders.requests.v1 record: a new key places its order;
// a retry with the same body is dropped; the same key with another body is
// a conflict, recorded (metric + a copy on the requests' DLQ topic with
// reason idempotency_conflict) and otherwise ignored.
func (p *Processor) Request(t *streams.Task, r *kgo.Record) error {
	req, err := decodeRequest(r)
	if err != nil {
		p.m.requests.WithLabelValues("invalid").Inc()
		return err
	}
	orders := p.orders.Of(t)
	seen, found, err := orders.Get(req.OrderID)
	if err != nil {
		return err
	}
	switch d := saga.Admit(seen, found, r.Key, req.BodyHash); d {
	case saga.Duplicate:
		p.m.requests.WithLabelValues(d.String()).Inc()
		return nil
	case saga.Conflict:
		p.m.requests.WithLabelValues(d.String()).Inc()
		t.DeadLetter(ReasonConflict, errors.New("idempotency key reused with a different body; the first request stands (order "+req.OrderID+")"))
		t.Logger().Warn("idempotency key reused with a different body; the first request stands",
			"orderId", req.OrderID, "offset", r.Offset, "firstBodyHash", seen.BodyHash, "bodyHash", req.BodyHash)
		return nil
	}
	heldStore := p.held.Of(t)
	held, wasHeld, err := heldStore.Get(req.OrderID)
	if err != nil {
		return err
	}
	var hp *saga.Held
	if wasHeld {
		hp = &held
		heldStore.Delete(req.OrderID)
	}
	s, fx := saga.Place(req, hp, t.Now(), p.cfg.Timeout)
	orders.Put(req.OrderID, saga.Seen{Key: append([]byte(nil), r.Key...), BodyHash: req.BodyHash, At: t.Now()})
	if err := p.apply(t, s, fx, false); err != nil {
		return err
	}
	p.m.requests.WithLabelValues(saga.New.String()).Inc()
	return nil
}

// Result applies an inventory.results.v1 record to its pending order.
// Answers for orders that have ended (or that the saga never saw) are
// ignored: a reservation among them is undone by the Release every line
// of an ended order got.
func (p *Processor) Result(t *streams.Task, r *kgo.Record) error {
	orderID, res, err := decodeResult(r)
	if err != nil {
		return err
	}
	s, found, err := p.sagas.Of(t).Get(orderID)
	if err != nil {
		return err
	}
	if !found {
		p.m.ignored.WithLabelValues("result", "order_not_pending").Inc()
		return nil
	}
	next, fx, err := s.Answer(res, t.Now())
	if err != nil {
		if errors.Is(err, saga.ErrInvalid) {
			return streams.Poison(streams.ReasonInvalid, err)
		}
		return err
	}
	if fx.Step == saga.Unchanged {
		p.m.ignored.WithLabelValues("result", "duplicate").Inc()
		return nil
	}
	return p.apply(t, next, fx, true)
}

// Command applies an orders.commands.v1 cancel: a pending order is
// cancelled; an ended one is left alone (the API answers 409 for a
// confirmed order, from the status projection); an order not seen yet gets
// the cancel held for the window, and Request applies it.
func (p *Processor) Command(t *streams.Task, r *kgo.Record) error {
	c, err := decodeCommand(r)
	if err != nil {
		return err
	}
	s, pending, err := p.sagas.Of(t).Get(c.OrderID)
	if err != nil {
		return err
	}
	if pending {
		next, fx := s.Cancel(saga.Cancel{CommandID: c.CommandID, Reason: c.Reason}, t.Now())
		return p.apply(t, next, fx, true)
	}
	_, known, err := p.orders.Of(t).Get(c.OrderID)
	if err != nil {
		return err
	}
	if known {
		p.m.ignored.WithLabelValues("cancel", "order_ended").Inc()
		return nil
	}
	held := p.held.Of(t)
	if _, already, err := held.Get(c.OrderID); err != nil || already {
		p.m.ignored.WithLabelValues("cancel", "already_held").Inc()
		return err
	}
	held.Put(c.OrderID, saga.Held{CommandID: c.CommandID, Reason: c.Reason, At: t.Now()})
	p.m.held.Inc()
	return nil
}

// Timeouts rejects the task's pending orders whose deadline has passed.
func (p *Processor) Timeouts(t *streams.Task, now time.Time) error {
	sagas := p.sagas.Of(t)
	var due []saga.Saga
	err := sagas.Range(func(_ string, s saga.Saga) bool {
		if s.Expired(now) {
			due = append(due, s)
		}
		return len(due) < maxPerPunctuation
	})
	if err != nil {
		return err
	}
	for _, s := range due {
		next, fx := s.Timeout(now)
		if err := p.apply(t, next, fx, true); err != nil {
			return err
		}
	}
	return nil
}

// Expire forgets dedupe entries and held cancels older than the window.
func (p *Processor) Expire(t *streams.Task, now time.Time) error {
	cutoff := now.Add(-p.cfg.Window)
	orders, sagas, held := p.orders.Of(t), p.sagas.Of(t), p.held.Of(t)
	var old []string
	err := orders.Range(func(id string, s saga.Seen) bool {
		if s.At.Before(cutoff) {
			old = append(old, id)
		}
		return len(old) < maxPerPunctuation
	})
	if err != nil {
		return err
	}
	for _, id := range old {
		if _, pending, err := sagas.Get(id); err != nil || pending {
			if err != nil {
				return err
			}
			continue // a saga outliving the window (Timeout > Window is refused): keep its key
		}
		orders.Delete(id)
	}
	p.m.expired.WithLabelValues(StoreOrders).Add(float64(len(old)))
	old = old[:0]
	err = held.Range(func(id string, h saga.Held) bool {
		if h.At.Before(cutoff) {
			old = append(old, id)
		}
		return len(old) < maxPerPunctuation
	})
	if err != nil {
		return err
	}
	for _, id := range old {
		held.Delete(id)
	}
	p.m.expired.WithLabelValues(StoreHeld).Add(float64(len(old)))
	return nil
}

// apply stores the saga as the step says (stored: the sagas store holds
// it already) and emits its effects.
func (p *Processor) apply(t *streams.Task, s saga.Saga, fx saga.Effects, stored bool) error {
	switch fx.Step {
	case saga.Unchanged:
		return nil
	case saga.Updated:
		p.sagas.Of(t).Put(s.OrderID, s)
	case saga.Finished:
		if stored {
			p.sagas.Of(t).Delete(s.OrderID)
		}
		p.m.finished(s, fx, t.Now())
	}
	p.out.emit(t, fx)
	return nil
}
