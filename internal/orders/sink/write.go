package sink

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// FencedError says the stored position of some partitions is not where the
// batch expected it: another sink instance (or an earlier, ambiguous commit
// of ours) already wrote them. Nothing was written; seek to Stored.
type FencedError struct {
	Stored map[TP]int64
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("sink: %d partition(s) fenced: stored positions moved on", len(e.Stored))
}

// Store writes batches to PostgreSQL.
type Store struct {
	pool     *pgxpool.Pool
	consumer string
}

// NewStore writes for the named consumer (its rows in sink_offsets).
func NewStore(pool *pgxpool.Pool, consumer string) *Store {
	return &Store{pool: pool, consumer: consumer}
}

func sortedTPs(spans map[TP]Span) []TP {
	tps := make([]TP, 0, len(spans))
	for tp := range spans {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	return tps
}

// Positions returns the stored next offset of each partition (-1 when the
// sink has written nothing there yet).
func (s *Store) Positions(ctx context.Context, tps []TP) (map[TP]int64, error) {
	topics, parts := make([]string, len(tps)), make([]int32, len(tps))
	for i, tp := range tps {
		topics[i], parts[i] = tp.Topic, tp.Partition
	}
	rows, err := s.pool.Query(ctx, `SELECT topic, partition, next_offset FROM sink_offsets
		WHERE consumer = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int4[]))`, s.consumer, topics, parts)
	if err != nil {
		return nil, fmt.Errorf("sink: read positions: %w", err)
	}
	defer rows.Close()
	out := make(map[TP]int64, len(tps))
	for _, tp := range tps {
		out[tp] = -1
	}
	for rows.Next() {
		var tp TP
		var next int64
		if err := rows.Scan(&tp.Topic, &tp.Partition, &next); err != nil {
			return nil, fmt.Errorf("sink: read positions: %w", err)
		}
		out[tp] = next
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sink: read positions: %w", err)
	}
	return out, nil
}

// Write applies b in one transaction that also moves the stored position of
// every partition it covers from Span.From to Span.Last+1. It first locks
// those positions (SELECT … FOR UPDATE, in a fixed order) and writes nothing
// unless each still equals Span.From; otherwise it returns *FencedError with
// what is stored. Two writers of the same partitions therefore never both
// apply the same records.
func (s *Store) Write(ctx context.Context, b Batch) (Result, error) {
	tps := sortedTPs(b.Spans)
	topics, parts, nexts := make([]string, len(tps)), make([]int32, len(tps)), make([]int64, len(tps))
	for i, tp := range tps {
		topics[i], parts[i], nexts[i] = tp.Topic, tp.Partition, b.Spans[tp].Last+1
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("sink: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit; the error that matters is returned below

	if err := s.lock(ctx, tx, b, topics, parts); err != nil {
		return Result{}, err
	}
	wb := &pgx.Batch{}
	var res Result
	if len(b.Orders) > 0 {
		wb.Queue(upsertOrders, orderArgs(b.Orders)...).QueryRow(func(row pgx.Row) error {
			return row.Scan(&res.Orders, &res.Lines)
		})
	}
	if len(b.History) > 0 {
		wb.Queue(insertHistory, historyArgs(b.History)...).Exec(func(ct pgconn.CommandTag) error {
			res.History = ct.RowsAffected()
			return nil
		})
	}
	wb.Queue(storeOffsets, s.consumer, topics, parts, nexts)
	if err := tx.SendBatch(ctx, wb).Close(); err != nil {
		return Result{}, fmt.Errorf("sink: write: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Result{}, fmt.Errorf("sink: commit: %w", err)
	}
	return res, nil
}

// Result counts the rows a batch changed. A replayed record changes none.
type Result struct {
	Orders, Lines, History int64
}

// lock makes sure every partition has a position row, locks them all and
// checks each against the batch.
func (s *Store) lock(ctx context.Context, tx pgx.Tx, b Batch, topics []string, parts []int32) error {
	lb := &pgx.Batch{}
	// A crash of PostgreSQL may lose the last fraction of a second of these
	// commits: rows and offsets together, so the sink finds its positions
	// behind what it consumed, rejoins and writes them again from Kafka.
	// Not waiting for the WAL flush keeps the commit off the sink's path.
	lb.Queue(`SET LOCAL synchronous_commit = off`)
	lb.Queue(`INSERT INTO sink_offsets (consumer, topic, partition, next_offset)
		SELECT $1, t, p, -1 FROM unnest($2::text[], $3::int4[]) AS u(t, p)
		ON CONFLICT DO NOTHING`, s.consumer, topics, parts)
	fenced := map[TP]int64{}
	lb.Queue(`SELECT topic, partition, next_offset FROM sink_offsets
		WHERE consumer = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int4[]))
		ORDER BY topic, partition FOR UPDATE`, s.consumer, topics, parts).Query(func(rows pgx.Rows) error {
		var tp TP
		var stored int64
		_, err := pgx.ForEachRow(rows, []any{&tp.Topic, &tp.Partition, &stored}, func() error {
			if span := b.Spans[tp]; stored != span.From {
				fenced[tp] = stored
			}
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, lb).Close(); err != nil {
		return fmt.Errorf("sink: lock positions: %w", err)
	}
	if len(fenced) > 0 {
		return &FencedError{Stored: fenced}
	}
	return nil
}

// upsertOrders writes the newest state of each order and, for the orders it
// actually changed (a higher version than stored), their lines. A replay of
// older states changes nothing.
const upsertOrders = `
WITH up AS (
    INSERT INTO orders AS o (order_id, customer_id, status, version, currency, total_amount, reason, shipping_address, created_at, updated_at)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::int8[], $7::text[], $8::jsonb[], $9::timestamptz[], $10::timestamptz[])
    ON CONFLICT (order_id) DO UPDATE SET
        customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, version = EXCLUDED.version,
        currency = EXCLUDED.currency, total_amount = EXCLUDED.total_amount, reason = EXCLUDED.reason,
        shipping_address = EXCLUDED.shipping_address, created_at = EXCLUDED.created_at,
        updated_at = EXCLUDED.updated_at, persisted_at = now()
    WHERE o.version < EXCLUDED.version
    RETURNING o.order_id
), lines AS (
    INSERT INTO order_lines AS l (order_id, line_no, product_id, quantity, unit_price, line_total)
    SELECT x.order_id, x.line_no, x.product_id, x.quantity, x.unit_price, x.line_total
    FROM unnest($11::uuid[], $12::int4[], $13::text[], $14::int4[], $15::int8[], $16::int8[])
         AS x(order_id, line_no, product_id, quantity, unit_price, line_total)
    JOIN up ON up.order_id = x.order_id
    ON CONFLICT (order_id, line_no) DO UPDATE SET
        product_id = EXCLUDED.product_id, quantity = EXCLUDED.quantity,
        unit_price = EXCLUDED.unit_price, line_total = EXCLUDED.line_total
    RETURNING 1
)
SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM lines)`

func orderArgs(orders []OrderRow) []any {
	n := len(orders)
	ids, customers, statuses, currencies := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	versions, totals, reasons := make([]int64, n), make([]*int64, n), make([]*string, n)
	addrs, created, updated := make([]string, n), make([]time.Time, n), make([]time.Time, n)
	var lids, lproducts []string
	var lnos, lqtys []int32
	var lunits, ltotals []*int64
	for i, o := range orders {
		ids[i], customers[i], statuses[i], currencies[i] = o.OrderID, o.CustomerID, o.Status, o.Currency
		versions[i], totals[i], reasons[i] = o.Version, o.Total, o.Reason
		addrs[i], created[i], updated[i] = string(o.ShippingAddress), o.CreatedAt, o.UpdatedAt
		for _, l := range o.Lines {
			lids = append(lids, o.OrderID)
			lnos = append(lnos, l.LineNo)
			lproducts = append(lproducts, l.ProductID)
			lqtys = append(lqtys, l.Quantity)
			lunits = append(lunits, l.UnitPrice)
			ltotals = append(ltotals, l.LineTotal)
		}
	}
	return []any{ids, customers, statuses, versions, currencies, totals, reasons, addrs, created, updated,
		lids, lnos, lproducts, lqtys, lunits, ltotals}
}

// insertHistory records each status an order reached once; a replayed
// event hits the (order_id, status) key and changes nothing.
const insertHistory = `
INSERT INTO order_status_history (order_id, status, version, reason, event_id, event_type, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
ON CONFLICT (order_id, status) DO NOTHING`

func historyArgs(rows []HistoryRow) []any {
	n := len(rows)
	ids, statuses, versions, reasons := make([]string, n), make([]string, n), make([]int64, n), make([]*string, n)
	eids, etypes, at := make([]string, n), make([]string, n), make([]time.Time, n)
	for i, r := range rows {
		ids[i], statuses[i], versions[i], reasons[i] = r.OrderID, r.Status, r.Version, r.Reason
		eids[i], etypes[i], at[i] = r.EventID, r.EventType, r.OccurredAt
	}
	return []any{ids, statuses, versions, reasons, eids, etypes, at}
}

const storeOffsets = `
INSERT INTO sink_offsets (consumer, topic, partition, next_offset)
SELECT $1, t, p, n FROM unnest($2::text[], $3::int4[], $4::int8[]) AS u(t, p, n)
ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()`

// IsDataError reports whether PostgreSQL refused the data itself (a
// constraint or a value out of range) rather than being unavailable: such
// a batch would fail forever, so the sink isolates the record to blame.
func IsDataError(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23": // data exception, integrity constraint violation
		return true
	}
	return false
}
