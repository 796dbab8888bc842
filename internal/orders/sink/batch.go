package sink

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"
	json "github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/schemas"
)

// Record is what the sink needs of a Kafka record.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	CEID      string // ce_id header
	CEType    string // ce_type header
	Headers   []kgo.RecordHeader
}

// TP is a topic partition.
type TP struct {
	Topic     string
	Partition int32
}

// Span is the part of one partition a batch covers: the stored position it
// expects (From: the next offset recorded in PostgreSQL, -1 for none) and
// the last offset it read. Committing it stores Last+1.
type Span struct {
	From, Last int64
}

// Poison is a record the sink cannot write, with the reason; it goes to the
// topic's dead-letter topic and the partition moves on.
type Poison struct {
	Record Record
	Reason string // schemas.DLQReason*
	Err    string // what exactly is wrong
}

// OrderRow is the orders row and lines of one order, from its latest state.
type OrderRow struct {
	OrderID         string
	CustomerID      string
	Status          string
	Version         int64
	Currency        string
	Total           *int64
	Reason          *string
	ShippingAddress []byte // JSON
	CreatedAt       time.Time
	UpdatedAt       time.Time
	Lines           []LineRow
}

// LineRow is one order_lines row; prices are nil until the order is priced.
type LineRow struct {
	LineNo    int32
	ProductID string
	Quantity  int32
	UnitPrice *int64
	LineTotal *int64
}

// HistoryRow is one order_status_history row, from an orders.events.v1 event.
type HistoryRow struct {
	OrderID    string
	Status     string
	Version    int64
	Reason     *string
	EventID    string
	EventType  string
	OccurredAt time.Time
}

// Batch is what one database transaction writes: the newest state per
// order, the status changes, and the offsets they came from.
type Batch struct {
	Orders  []OrderRow
	History []HistoryRow
	Spans   map[TP]Span
	Poison  []Poison
	Skipped int // records with nothing to write (unknown event types, tombstones)
	Records int
}

// Builder turns polled records into a Batch. StateTopic's records become
// order rows, EventsTopic's become status history.
type Builder struct {
	StateTopic, EventsTopic string
}

// Decoded is a record with its decoding done: at most one of Order and
// History is set; Poison says why it cannot be written; neither and no
// Poison means there is nothing to write (an unknown event type, a
// tombstone).
type Decoded struct {
	Record  Record
	Order   *OrderRow
	History *HistoryRow
	Poison  string // the error text
	Reason  string // schemas.DLQReason* when Poison is set
}

// Decode decodes records. It needs no position, so the sink decodes the
// next poll while the previous batch is being written.
func (b Builder) Decode(records []Record) []Decoded {
	out := make([]Decoded, len(records))
	for i, r := range records {
		d := Decoded{Record: r}
		var err error
		switch r.Topic {
		case b.StateTopic:
			d.Order, err = decodeState(r)
		case b.EventsTopic:
			d.History, err = decodeEvent(r)
		}
		if err != nil {
			d.Poison, d.Reason = err.Error(), schemas.DLQReasonInvalid
			var se *json.SyntaxError
			var te *json.UnmarshalTypeError
			if errors.As(err, &se) || errors.As(err, &te) {
				d.Reason = schemas.DLQReasonDecode
			}
		}
		out[i] = d
	}
	return out
}

// Build is Assemble(Decode(records), from).
func (b Builder) Build(records []Record, from func(TP) (int64, bool)) Batch {
	return Assemble(b.Decode(records), from)
}

// Assemble groups decoded records (in offset order per partition) into a
// batch: the newest state per order, the first history row per status. from
// gives each partition's stored position; records below it were already
// written (a stale fetch after a seek) and are dropped, as are records of
// partitions from does not know (no longer assigned, or fenced).
func Assemble(decoded []Decoded, from func(TP) (int64, bool)) Batch {
	batch := Batch{Spans: map[TP]Span{}}
	orders := map[string]int{} // orderId → index in batch.Orders
	history := map[[2]string]bool{}
	for _, d := range decoded {
		r := d.Record
		tp := TP{r.Topic, r.Partition}
		pos, ok := from(tp)
		if !ok || r.Offset < pos {
			continue
		}
		span, seen := batch.Spans[tp]
		if !seen {
			span.From = pos
		}
		span.Last = max(span.Last, r.Offset)
		batch.Spans[tp] = span
		batch.Records++
		switch {
		case d.Poison != "":
			batch.Poison = append(batch.Poison, Poison{Record: r, Reason: d.Reason, Err: d.Poison})
		case d.Order != nil:
			if i, ok := orders[d.Order.OrderID]; ok {
				if d.Order.Version > batch.Orders[i].Version {
					batch.Orders[i] = *d.Order
				}
			} else {
				orders[d.Order.OrderID] = len(batch.Orders)
				batch.Orders = append(batch.Orders, *d.Order)
			}
		case d.History != nil:
			k := [2]string{d.History.OrderID, d.History.Status}
			if !history[k] {
				history[k] = true
				batch.History = append(batch.History, *d.History)
			}
		default:
			batch.Skipped++
		}
	}
	return batch
}

// Empty reports whether the batch covers no partition at all.
func (b Batch) Empty() bool { return len(b.Spans) == 0 }

// stateValue is what the sink reads of an orders.state.v1 value
// (schemas.OrderState, with the address kept as raw JSON for the jsonb
// column instead of decoded and encoded again).
type stateValue struct {
	OrderID         string               `json:"orderId"`
	Version         int64                `json:"version"`
	Status          string               `json:"status"`
	CustomerID      string               `json:"customerId"`
	ShippingAddress json.RawMessage      `json:"shippingAddress"`
	Lines           []schemas.Line       `json:"lines"`
	Currency        string               `json:"currency"`
	PricedLines     []schemas.PricedLine `json:"pricedLines"`
	Total           *schemas.Money       `json:"total"`
	Reason          string               `json:"reason"`
	CreatedAt       time.Time            `json:"createdAt"`
	UpdatedAt       time.Time            `json:"updatedAt"`
}

// eventValue is what the sink reads of an orders.events.v1 value.
type eventValue struct {
	Type       string    `json:"type"`
	OrderID    string    `json:"orderId"`
	Version    int64     `json:"version"`
	CustomerID string    `json:"customerId"`
	Currency   string    `json:"currency"`
	OccurredAt time.Time `json:"occurredAt"`
	Reason     string    `json:"reason"`
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

func decodeState(r Record) (*OrderRow, error) {
	if r.Value == nil {
		return nil, nil // a tombstone: orderpipe writes none; nothing to do
	}
	var s stateValue
	if err := json.Unmarshal(r.Value, &s); err != nil {
		return nil, fmt.Errorf("order state is not valid JSON: %w", err)
	}
	if err := checkOrder(s.OrderID, string(r.Key), s.Version, s.CustomerID, s.Currency); err != nil {
		return nil, err
	}
	if s.Status == "" {
		return nil, errors.New("order state without status")
	}
	if len(s.Lines) < 1 || len(s.Lines) > 100 {
		return nil, fmt.Errorf("order state with %d lines, want 1..100", len(s.Lines))
	}
	if len(s.ShippingAddress) == 0 || s.ShippingAddress[0] != '{' {
		return nil, errors.New("order state without a shipping address object")
	}
	row := &OrderRow{OrderID: s.OrderID, CustomerID: s.CustomerID, Status: s.Status, Version: s.Version,
		Currency: s.Currency, ShippingAddress: s.ShippingAddress, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		Lines: make([]LineRow, len(s.Lines))}
	if s.Reason != "" {
		row.Reason = &s.Reason
	}
	for i, l := range s.Lines {
		if l.ProductID == "" || l.Quantity < 1 || l.Quantity > 9999 {
			return nil, fmt.Errorf("line %d: productId %q quantity %d", i+1, l.ProductID, l.Quantity)
		}
		row.Lines[i] = LineRow{LineNo: int32(i + 1), ProductID: l.ProductID, Quantity: int32(l.Quantity)}
	}
	if err := applyPrices(row, s); err != nil {
		return nil, err
	}
	return row, nil
}

// applyPrices sets line prices and the total, refusing an order whose money
// does not add up: a corrupted row is worse than a dead letter.
func applyPrices(row *OrderRow, s stateValue) error {
	var sum int64
	for _, p := range s.PricedLines {
		if p.LineNo < 1 || p.LineNo > len(row.Lines) {
			return fmt.Errorf("priced line %d: no such line", p.LineNo)
		}
		l := &row.Lines[p.LineNo-1]
		if l.UnitPrice != nil {
			return fmt.Errorf("priced line %d: priced twice", p.LineNo)
		}
		if p.ProductID != l.ProductID || int32(p.Quantity) != l.Quantity {
			return fmt.Errorf("priced line %d: %s×%d does not match the order line %s×%d", p.LineNo, p.ProductID, p.Quantity, l.ProductID, l.Quantity)
		}
		if p.UnitPrice.Currency != s.Currency || p.LineTotal.Currency != s.Currency {
			return fmt.Errorf("priced line %d: currency %s/%s, order currency %s", p.LineNo, p.UnitPrice.Currency, p.LineTotal.Currency, s.Currency)
		}
		if p.UnitPrice.Amount < 0 || p.LineTotal.Amount != p.UnitPrice.Amount*int64(p.Quantity) {
			return fmt.Errorf("priced line %d: lineTotal %d ≠ unitPrice %d × %d", p.LineNo, p.LineTotal.Amount, p.UnitPrice.Amount, p.Quantity)
		}
		unit, total := p.UnitPrice.Amount, p.LineTotal.Amount
		l.UnitPrice, l.LineTotal = &unit, &total
		sum += total
	}
	if s.Total != nil {
		if s.Total.Currency != s.Currency || s.Total.Amount != sum {
			return fmt.Errorf("total %d %s ≠ Σ line totals %d %s", s.Total.Amount, s.Total.Currency, sum, s.Currency)
		}
		total := s.Total.Amount
		row.Total = &total
	}
	if s.Status == schemas.StatusConfirmed && (row.Total == nil || slices.ContainsFunc(row.Lines, func(l LineRow) bool { return l.UnitPrice == nil })) {
		return errors.New("CONFIRMED order without a price on every line and a total")
	}
	return nil
}

func checkOrder(orderID, key string, version int64, customerID, currency string) error {
	if _, err := uuid.Parse(orderID); err != nil {
		return fmt.Errorf("orderId %q is not a UUID", orderID)
	}
	if key != "" && key != orderID {
		return fmt.Errorf("record key %q is not the orderId %s", key, orderID)
	}
	if version < 1 {
		return fmt.Errorf("version %d, want ≥ 1", version)
	}
	if customerID == "" {
		return errors.New("no customerId")
	}
	if currency != "" && !currencyRE.MatchString(currency) {
		return fmt.Errorf("currency %q is not ISO 4217", currency)
	}
	return nil
}

func decodeEvent(r Record) (*HistoryRow, error) {
	if r.Value == nil {
		return nil, nil
	}
	typ := r.CEType
	if typ != "" {
		if _, known := schemas.StatusOfEvent(typ); !known {
			return nil, nil // a newer event type: not ours to record
		}
	}
	var ev eventValue
	if err := json.Unmarshal(r.Value, &ev); err != nil {
		return nil, fmt.Errorf("order event is not valid JSON: %w", err)
	}
	if typ == "" {
		typ = ev.Type
	}
	status, known := schemas.StatusOfEvent(typ)
	if !known {
		return nil, nil
	}
	if err := checkOrder(ev.OrderID, string(r.Key), ev.Version, ev.CustomerID, ev.Currency); err != nil {
		return nil, err
	}
	id := r.CEID
	if id == "" {
		id = fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)
	}
	row := &HistoryRow{OrderID: ev.OrderID, Status: status, Version: ev.Version, EventID: id, EventType: typ, OccurredAt: ev.OccurredAt}
	if ev.Reason != "" {
		row.Reason = &ev.Reason
	}
	return row, nil
}
