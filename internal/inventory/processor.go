package inventory

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/inventory/domain"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// Group is the processor's name: consumer group TOPIC_PREFIX+Group,
// changelogs <prefix>inventory-processor-<store>-changelog.
const Group = "inventory-processor"

// Store names (changelog topics follow kafka.Changelog).
const (
	StoreStock       = "stock"       // productId → domain.Stock
	StoreLines       = "lines"       // productId NUL orderId NUL lineNo → domain.Line
	StoreAdjustments = "adjustments" // productId NUL adjustmentId → domain.Adjustment
)

// DefaultRetention is how long finished lines (released, committed,
// rejected) and adjustment outcomes are kept for deduplication.
const DefaultRetention = 7 * 24 * time.Hour

// maxExpiredPerPunctuation bounds the deletions one punctuation makes (and
// so the transaction it lands in).
const maxExpiredPerPunctuation = 10000

// Processor is the inventory-processor's topology: it reads
// inventory.commands.v1 with catalog.products.v1 as a table, keeps stock,
// order lines and adjustments per product, and writes
// inventory.results.v1 and inventory.stock.v1.
type Processor struct {
	names       kafka.Names
	stock       *streams.StoreDef[domain.Stock]
	lines       *streams.StoreDef[domain.Line]
	adjustments *streams.StoreDef[domain.Adjustment]
	products    *streams.TableDef[domain.Product]
	outcomes    *prometheus.CounterVec
	reserved    prometheus.Counter
	expired     prometheus.Counter
	retention   time.Duration
	topo        *streams.Topology
}

// NewProcessor builds the topology on the topics under names, keeping
// finished lines and adjustment outcomes for DefaultRetention.
func NewProcessor(names kafka.Names) *Processor {
	return NewProcessorWithRetention(names, DefaultRetention)
}

// NewProcessorWithRetention is NewProcessor with another retention.
func NewProcessorWithRetention(names kafka.Names, retention time.Duration) *Processor {
	p := &Processor{
		names:       names,
		retention:   retention,
		stock:       streams.NewStore(StoreStock, stockCodec),
		lines:       streams.NewStore(StoreLines, lineCodec),
		adjustments: streams.NewStore(StoreAdjustments, streams.JSON[domain.Adjustment](1)),
		products:    streams.NewTable(names.CatalogProducts, decodeProduct),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orderpipe", Subsystem: "inventory", Name: "commands_total",
			Help: "Inventory commands handled, by type and outcome (re-processing after an aborted transaction counts again).",
		}, []string{"type", "outcome"}),
	}
	p.reserved = p.outcomes.WithLabelValues(schemas.CmdReserve, "reserved")
	p.expired = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "orderpipe", Subsystem: "inventory", Name: "expired_total",
		Help: "Finished lines and adjustment outcomes dropped after the retention.",
	})
	p.topo = streams.NewTopology(Group, kafka.ByProduct).
		Input(names.InventoryCommands, p.Command).
		Table(p.products).
		Store(p.stock).Store(p.lines).Store(p.adjustments).
		Every(time.Minute, p.Expire)
	return p
}

// Topology is what streams runs.
func (p *Processor) Topology() *streams.Topology { return p.topo }

// Collectors are the processor's own metrics.
func (p *Processor) Collectors() []prometheus.Collector {
	return []prometheus.Collector{p.outcomes, p.expired}
}

// Expire drops finished lines and adjustment outcomes older than the
// retention. Reserved lines stay until they are released or committed (the
// saga always sends one). A Reserve repeated after its line expired would
// be decided anew; nothing repeats one that late (commands are produced
// exactly once, and DLQ replays happen within days).
func (p *Processor) Expire(t *streams.Task, now time.Time) error {
	cutoff := now.Add(-p.retention)
	var old []string
	err := p.lines.Of(t).Range(func(k string, l domain.Line) bool {
		if l.Status != domain.LineReserved && l.UpdatedAt.Before(cutoff) {
			old = append(old, k)
		}
		return len(old) < maxExpiredPerPunctuation
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		p.lines.Of(t).Delete(k)
	}
	var oldAdj []string
	err = p.adjustments.Of(t).Range(func(k string, a domain.Adjustment) bool {
		if a.At.Before(cutoff) {
			oldAdj = append(oldAdj, k)
		}
		return len(oldAdj)+len(old) < maxExpiredPerPunctuation
	})
	if err != nil {
		return err
	}
	for _, k := range oldAdj {
		p.adjustments.Of(t).Delete(k)
	}
	p.expired.Add(float64(len(old) + len(oldAdj)))
	return nil
}

// Command handles one inventory command.
func (p *Processor) Command(t *streams.Task, r *kgo.Record) error {
	c, err := decodeCommand(r)
	if err != nil {
		return err
	}
	switch c.Type {
	case schemas.CmdReserve:
		return p.reserve(t, r, c)
	case schemas.CmdRelease:
		return p.finish(t, c, domain.ReleaseLine, "released")
	case schemas.CmdCommit:
		return p.finish(t, c, domain.CommitLine, "committed")
	case schemas.CmdAdjust:
		return p.adjust(t, c)
	}
	return streams.Poison(streams.ReasonInvalid, fmt.Errorf("unknown command type %q", c.Type))
}

func (p *Processor) reserve(t *streams.Task, r *kgo.Record, c schemas.InventoryCommand) error {
	cmd := domain.Reserve{OrderID: c.OrderID, LineNo: c.LineNo, Quantity: int64(c.Quantity), Currency: c.Currency}
	if err := cmd.Validate(); err != nil {
		return streams.Poison(streams.ReasonInvalid, err)
	}
	stocks, lines := p.stock.Of(t), p.lines.Of(t)
	st, _, err := stocks.Get(c.ProductID)
	if err != nil {
		return err
	}
	lk := lineKey(c.ProductID, c.OrderID, c.LineNo)
	line, found, err := lines.Get(lk)
	if err != nil {
		return err
	}
	prod, known, err := p.products.Of(t).Get(c.ProductID)
	if err != nil {
		return err
	}
	res, err := domain.ReserveLine(st, line, found, prod, known, cmd, t.Now())
	if err != nil {
		return classify(err)
	}
	switch {
	case res.Duplicate:
		p.count(schemas.CmdReserve, "duplicate")
	case res.Result.Reserved:
		p.count(schemas.CmdReserve, "reserved")
	default:
		p.count(schemas.CmdReserve, "rejected_"+res.Result.Reason)
	}
	if !res.Duplicate {
		lines.Put(lk, res.Line)
		if res.Stock.Version != st.Version {
			p.putStock(t, c.ProductID, res.Stock)
		}
	}
	t.Emit(resultRecord(r, p.names.InventoryResults, c.ProductID, cmd, res.Result))
	return nil
}

type lineOp func(domain.Stock, domain.Line, bool, time.Time) (domain.Stock, domain.Line, bool, error)

// finish releases or commits a line; unknown or finished lines are no-ops.
func (p *Processor) finish(t *streams.Task, c schemas.InventoryCommand, op lineOp, done string) error {
	if c.OrderID == "" || c.LineNo < 0 {
		return streams.Poison(streams.ReasonInvalid, fmt.Errorf("%s needs orderId and lineNo ≥ 0", c.Type))
	}
	stocks, lines := p.stock.Of(t), p.lines.Of(t)
	lk := lineKey(c.ProductID, c.OrderID, c.LineNo)
	line, found, err := lines.Get(lk)
	if err != nil {
		return err
	}
	if !found || line.Status != domain.LineReserved {
		p.count(c.Type, "noop")
		return nil
	}
	st, _, err := stocks.Get(c.ProductID)
	if err != nil {
		return err
	}
	st, line, changed, err := op(st, line, found, t.Now())
	if err != nil {
		return classify(err)
	}
	if changed {
		lines.Put(lk, line)
		p.putStock(t, c.ProductID, st)
	}
	p.count(c.Type, done)
	return nil
}

func (p *Processor) adjust(t *streams.Task, c schemas.InventoryCommand) error {
	cmd := domain.Adjust{ID: c.AdjustmentID, Delta: c.Delta, Absolute: c.Absolute, Reason: c.Reason}
	if err := cmd.Validate(); err != nil {
		return streams.Poison(streams.ReasonInvalid, err)
	}
	stocks, adjs := p.stock.Of(t), p.adjustments.Of(t)
	ak := adjustmentKey(c.ProductID, c.AdjustmentID)
	prev, seen, err := adjs.Get(ak)
	if err != nil {
		return err
	}
	st, _, err := stocks.Get(c.ProductID)
	if err != nil {
		return err
	}
	next, outcome, dup, err := domain.AdjustStock(st, prev, seen, cmd, t.Now())
	if err != nil {
		return classify(err)
	}
	switch {
	case dup:
		p.count(schemas.CmdAdjust, "duplicate")
		return nil
	case !outcome.Accepted:
		p.count(schemas.CmdAdjust, "rejected_"+outcome.Reason)
		t.Logger().Warn("stock adjustment rejected", "productId", c.ProductID, "adjustmentId", c.AdjustmentID,
			"reason", outcome.Reason, "onHand", st.OnHand, "reserved", st.Reserved)
	default:
		p.count(schemas.CmdAdjust, "accepted")
		p.putStock(t, c.ProductID, next)
	}
	adjs.Put(ak, outcome)
	return nil
}

// count counts a command's outcome. The hot outcomes' counters are
// resolved once (a label lookup per command showed in profiles).
func (p *Processor) count(typ, outcome string) {
	if typ == schemas.CmdReserve && outcome == "reserved" {
		p.reserved.Inc()
		return
	}
	p.outcomes.WithLabelValues(typ, outcome).Inc()
}

// putStock stores a product's stock and publishes its snapshot (the latest
// of the transaction only).
func (p *Processor) putStock(t *streams.Task, productID string, st domain.Stock) {
	p.stock.Of(t).Put(productID, st)
	topic := p.names.InventoryStock
	t.EmitLatest(topic, productID, func() (*kgo.Record, error) { return snapshotRecord(topic, productID, st), nil })
}

// classify turns domain errors into DLQ reasons: invalid commands are
// poison; a broken invariant is a bug, dead-lettered as a handler error
// (the change is undone, so stock stays consistent).
func classify(err error) error {
	if errors.Is(err, domain.ErrInvalid) {
		return streams.Poison(streams.ReasonInvalid, err)
	}
	return err
}
