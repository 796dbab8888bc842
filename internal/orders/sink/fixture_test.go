package sink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/orders/sink"
	"github.com/orderpipe/orderpipe/internal/orderstore"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// fixture is a test's Kafka topics (orders.state.v1, orders.events.v1 and
// their DLQs, 3 partitions each) and a migrated database.
type fixture struct {
	kafka config.Kafka
	names kafka.Names
	dsn   string
	pool  *pgxpool.Pool
	env   *testenv.KafkaEnv
}

func newFixture(t testing.TB, ctx context.Context, dsn string) *fixture {
	t.Helper()
	return newFixtureOn(t, ctx, testenv.Kafka(t), dsn)
}

func newFixtureOn(t testing.TB, ctx context.Context, env *testenv.KafkaEnv, dsn string) *fixture {
	t.Helper()
	f := &fixture{kafka: env.Config, names: kafka.TopicNames(env.Config.TopicPrefix), dsn: dsn, env: env}
	want := []string{f.names.OrderState, f.names.OrderEvents, kafka.DLQ(f.names.OrderState), kafka.DLQ(f.names.OrderEvents)}
	var topics []kafka.Topic
	for _, tp := range kafka.Spec(env.Config, kafka.SpecOptions{}) {
		if slices.Contains(want, tp.Name) {
			topics = append(topics, tp)
		}
	}
	if _, err := kafka.Apply(ctx, env.Client(t), topics, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := orderstore.Migrate(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f.pool = pool
	return f
}

// countAttempts makes PostgreSQL count every committed write of a status
// change (history) and of an order version (orders). Inserts that lose to ON
// CONFLICT still fire BEFORE INSERT triggers, so a record applied by two
// transactions shows n = 2 — the double write fencing must prevent.
func (f *fixture) countAttempts(t testing.TB, ctx context.Context) {
	t.Helper()
	for _, q := range []string{
		`CREATE TABLE history_attempts (order_id uuid, status text, n int NOT NULL, PRIMARY KEY (order_id, status))`,
		`CREATE TABLE order_attempts (order_id uuid, version bigint, n int NOT NULL, PRIMARY KEY (order_id, version))`,
		`CREATE FUNCTION count_history() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			INSERT INTO history_attempts VALUES (NEW.order_id, NEW.status, 1)
			ON CONFLICT (order_id, status) DO UPDATE SET n = history_attempts.n + 1; RETURN NEW; END $$`,
		`CREATE FUNCTION count_order() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			INSERT INTO order_attempts VALUES (NEW.order_id, NEW.version, 1)
			ON CONFLICT (order_id, version) DO UPDATE SET n = order_attempts.n + 1; RETURN NEW; END $$`,
		`CREATE TRIGGER count_history BEFORE INSERT ON order_status_history FOR EACH ROW EXECUTE FUNCTION count_history()`,
		`CREATE TRIGGER count_order BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION count_order()`,
	} {
		if _, err := f.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) maxAttempts(t testing.TB, ctx context.Context) (history, orders int) {
	t.Helper()
	if err := f.pool.QueryRow(ctx, `SELECT COALESCE((SELECT max(n) FROM history_attempts), 0), COALESCE((SELECT max(n) FROM order_attempts), 0)`).Scan(&history, &orders); err != nil {
		t.Fatal(err)
	}
	return history, orders
}

// sinkCfg is the sink configuration of this fixture.
func (f *fixture) sinkCfg(group string) sink.Config {
	return sink.Config{Kafka: f.kafka, Group: f.kafka.TopicPrefix + group, MaxBatch: 500,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
}

// runSink starts a sink; the returned stop waits for it to return.
func (f *fixture) runSink(t testing.TB, cfg sink.Config, pool *pgxpool.Pool) (*prometheus.Registry, func()) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := sink.New(cfg, pool, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var runErr error
	go func() { defer wg.Done(); runErr = s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			s.Close()
			if runErr != nil {
				t.Errorf("sink.Run: %v", runErr)
			}
		})
	}
	t.Cleanup(stop)
	return reg, stop
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testLogger logs at info (debug with -v and ORDERPIPE_TEST_DEBUG=1) into the test's log.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("ORDERPIPE_TEST_DEBUG") == "1" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

// metric returns the value of a counter or gauge without labels.
func metric(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			if m.Gauge != nil {
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

// order is one test order and the outcome the saga gives it.
type order struct {
	id      string
	n       int
	outcome string // a status; PENDING = no outcome yet
}

func orders(prefix string, n int) []order {
	out := make([]order, n)
	for i := range out {
		outcome := []string{schemas.StatusConfirmed, schemas.StatusConfirmed, schemas.StatusRejected, schemas.StatusCancelled, schemas.StatusPending}[i%5]
		out[i] = order{id: schemas.OrderID(prefix, strconv.Itoa(i)), n: i, outcome: outcome}
	}
	return out
}

func (o order) lines() []schemas.Line {
	return []schemas.Line{{ProductID: "p-a", Quantity: 1 + o.n%3}, {ProductID: "p-b", Quantity: 2}, {ProductID: "p-" + strconv.Itoa(o.n%50), Quantity: 1}}
}

func (o order) unitPrice(line int) int64 { return int64(100*(line+1) + o.n%7) }

// total is Σ unit price × quantity over the order's lines.
func (o order) total() int64 {
	var sum int64
	for i, l := range o.lines() {
		sum += o.unitPrice(i) * int64(l.Quantity)
	}
	return sum
}

var (
	t0      = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	address = schemas.Address{AddressLine1: "1 Market Street", City: "San Francisco", StateOrProvince: "CA", PostalCode: "94105", Country: "US"}
)

func (o order) state(version int64, status string) schemas.OrderState {
	s := schemas.OrderState{OrderID: o.id, Version: version, Status: status, CustomerID: "customer-" + strconv.Itoa(o.n%10),
		ShippingAddress: address, Lines: o.lines(), Currency: "USD",
		CreatedAt: t0.Add(time.Duration(o.n) * time.Millisecond), UpdatedAt: t0.Add(time.Duration(o.n)*time.Millisecond + time.Duration(version)*time.Second)}
	switch status {
	case schemas.StatusConfirmed:
		for i, l := range s.Lines {
			u := o.unitPrice(i)
			s.PricedLines = append(s.PricedLines, schemas.PricedLine{LineNo: i + 1, ProductID: l.ProductID, Quantity: l.Quantity,
				UnitPrice: schemas.Money{Amount: u, Currency: "USD"}, LineTotal: schemas.Money{Amount: u * int64(l.Quantity), Currency: "USD"}})
		}
		s.Total = &schemas.Money{Amount: o.total(), Currency: "USD"}
	case schemas.StatusRejected:
		s.Reason = schemas.ReasonInsufficientStock
		s.RejectedLines = []schemas.RejectedLine{{LineNo: 2, ProductID: "p-b", Reason: schemas.ReasonInsufficientStock}}
	case schemas.StatusCancelled:
		s.Reason = "customer asked"
	}
	return s
}

func (o order) event(version int64, status string) (string, schemas.OrderEvent) {
	s := o.state(version, status)
	ev := schemas.OrderEvent{OrderID: o.id, Version: version, CustomerID: s.CustomerID, OccurredAt: s.UpdatedAt}
	switch status {
	case schemas.StatusPending:
		ev.Type, ev.ShippingAddress, ev.Lines, ev.Currency, ev.IdempotencyKey = schemas.TypeOrderPlaced, &s.ShippingAddress, s.Lines, s.Currency, "key-"+strconv.Itoa(o.n)
	case schemas.StatusConfirmed:
		ev.Type, ev.Currency, ev.PricedLines, ev.Total = schemas.TypeOrderConfirmed, s.Currency, s.PricedLines, s.Total
	case schemas.StatusRejected:
		ev.Type, ev.Reason, ev.RejectedLines = schemas.TypeOrderRejected, s.Reason, s.RejectedLines
	case schemas.StatusCancelled:
		ev.Type, ev.Reason = schemas.TypeOrderCancelled, s.Reason
	}
	return ev.Type, ev
}

var validator = func() *schemas.Validator {
	v, err := schemas.NewValidator(schemas.Strict())
	if err != nil {
		panic(err)
	}
	return v
}()

// records are what the saga writes in one transaction for a status change
// of o: the event and the new state, both keyed by orderId, each checked
// against the public contract (values and headers).
func (f *fixture) records(t testing.TB, o order, version int64, status string) []*kgo.Record {
	t.Helper()
	out := f.recordsFast(o, version, status)
	for _, rec := range out {
		if err := validator.ValidateRecord(kafka.Header(rec, kafka.HeaderType), rec.Value); err != nil {
			t.Fatalf("the test's saga emits a record outside the contract: %v", err)
		}
		headers := map[string]string{}
		for _, h := range rec.Headers {
			headers[h.Key] = string(h.Value)
		}
		if err := validator.ValidateHeaders(headers); err != nil {
			t.Fatalf("kafka.NewRecord headers break the contract: %v", err)
		}
	}
	return out
}

// recordsFast is records without the contract checks (benchmarks).
func (f *fixture) recordsFast(o order, version int64, status string) []*kgo.Record {
	evType, ev := o.event(version, status)
	st := o.state(version, status)
	eb, _ := json.Marshal(ev)
	sb, _ := json.Marshal(st)
	return []*kgo.Record{
		kafka.NewRecord(context.Background(), f.names.OrderEvents, []byte(o.id), eb,
			kafka.Event{Type: evType, Source: "/orderpipe/order-processor", ID: fmt.Sprintf("%s-%d-e", o.id, version)}),
		kafka.NewRecord(context.Background(), f.names.OrderState, []byte(o.id), sb,
			kafka.Event{Type: schemas.TypeOrderState, Source: "/orderpipe/order-processor", ID: fmt.Sprintf("%s-%d-s", o.id, version)}),
	}
}

// saga is a transactional producer writing as the order-processor does.
type saga struct {
	t  testing.TB
	cl *kgo.Client
}

func (f *fixture) saga(t testing.TB, id string) *saga {
	t.Helper()
	cl, err := kafka.NewProducer(f.kafka, nil, kgo.TransactionalID(f.kafka.TopicPrefix+id), kgo.TransactionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &saga{t: t, cl: cl}
}

// commit writes records in one committed transaction (abort=true aborts it).
func (s *saga) commit(ctx context.Context, records []*kgo.Record, abort bool) {
	s.t.Helper()
	if err := s.cl.BeginTransaction(); err != nil {
		s.t.Fatal(err)
	}
	if err := s.cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		s.t.Fatal(err)
	}
	end := kgo.TryCommit
	if abort {
		end = kgo.TryAbort
	}
	if err := s.cl.EndTransaction(ctx, end); err != nil {
		s.t.Fatal(err)
	}
}

// produce runs the saga over orders in transactions of per orders: every
// order placed, then its outcome.
func (f *fixture) produce(t testing.TB, ctx context.Context, s *saga, os []order, per int) {
	t.Helper()
	for i := 0; i < len(os); i += per {
		chunk := os[i:min(i+per, len(os))]
		var placed, outcomes []*kgo.Record
		for _, o := range chunk {
			placed = append(placed, f.records(t, o, 1, schemas.StatusPending)...)
			if o.outcome != schemas.StatusPending {
				outcomes = append(outcomes, f.records(t, o, 2, o.outcome)...)
			}
		}
		s.commit(ctx, placed, false)
		if len(outcomes) > 0 {
			s.commit(ctx, outcomes, false)
		}
	}
}

// waitRows waits until the database holds every order at its final
// version and every status change of it.
func (f *fixture) waitRows(t testing.TB, ctx context.Context, os []order, within time.Duration) {
	t.Helper()
	ids, versions := make([]string, len(os)), make([]int64, len(os))
	history := 0
	for i, o := range os {
		ids[i], versions[i] = o.id, 2
		history += 2
		if o.outcome == schemas.StatusPending {
			versions[i] = 1
			history--
		}
	}
	var rows, hist int
	testenv.Eventually(t, within, "every order at its final version with every status change", func() error {
		err := f.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM orders o JOIN unnest($1::uuid[], $2::int8[]) AS e(id, v) ON o.order_id = e.id AND o.version = e.v),
			(SELECT count(*) FROM order_status_history h WHERE h.order_id = ANY($1::uuid[]))`, ids, versions).Scan(&rows, &hist)
		if err != nil {
			return fmt.Errorf("%d of %d orders at their final version, %d of %d status changes (last query: %w)", rows, len(os), hist, history, err)
		}
		if rows != len(os) || hist != history {
			return fmt.Errorf("%d of %d orders at their final version, %d of %d status changes", rows, len(os), hist, history)
		}
		return nil
	})
}

// verify checks every order's row, lines and history against what the saga
// decided, and that nothing else is there.
func (f *fixture) verify(t testing.TB, ctx context.Context, os []order) {
	t.Helper()
	type row struct {
		status           string
		version          int64
		total            *int64
		lines, priced    int
		sumLines         *int64
		history          []string
		customer, reason string
	}
	got := map[string]*row{}
	rows, err := f.pool.Query(ctx, `
		SELECT o.order_id::text, o.status, o.version, o.total_amount, o.customer_id, COALESCE(o.reason, ''),
		       (SELECT count(*) FROM order_lines l WHERE l.order_id = o.order_id),
		       (SELECT count(*) FROM order_lines l WHERE l.order_id = o.order_id AND l.unit_price IS NOT NULL),
		       (SELECT sum(line_total) FROM order_lines l WHERE l.order_id = o.order_id)::bigint,
		       (SELECT array_agg(status ORDER BY version) FROM order_status_history h WHERE h.order_id = o.order_id)
		FROM orders o`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		r := &row{}
		if err := rows.Scan(&id, &r.status, &r.version, &r.total, &r.customer, &r.reason, &r.lines, &r.priced, &r.sumLines, &r.history); err != nil {
			t.Fatal(err)
		}
		got[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(os) {
		t.Errorf("%d orders rows, want %d", len(got), len(os))
	}
	var orphans int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM order_status_history h WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = h.order_id)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d history rows of unknown orders (%v)", orphans, err)
	}
	bad := 0
	for _, o := range os {
		r := got[o.id]
		wantVersion, wantHistory := int64(2), []string{schemas.StatusPending, o.outcome}
		if o.outcome == schemas.StatusPending {
			wantVersion, wantHistory = 1, []string{schemas.StatusPending}
		}
		problem := ""
		switch {
		case r == nil:
			problem = "no row"
		case r.status != o.outcome || r.version != wantVersion:
			problem = fmt.Sprintf("status %s v%d, want %s v%d", r.status, r.version, o.outcome, wantVersion)
		case r.lines != 3 || r.customer != "customer-"+strconv.Itoa(o.n%10):
			problem = fmt.Sprintf("%d lines, customer %s", r.lines, r.customer)
		case !slices.Equal(r.history, wantHistory):
			problem = fmt.Sprintf("history %v, want %v", r.history, wantHistory)
		case o.outcome == schemas.StatusConfirmed && (r.total == nil || *r.total != o.total() || r.sumLines == nil || *r.sumLines != *r.total || r.priced != 3):
			problem = fmt.Sprintf("total %v, Σ lines %v, priced lines %d; want %d", r.total, r.sumLines, r.priced, o.total())
		case o.outcome != schemas.StatusConfirmed && (r.total != nil || r.priced != 0):
			problem = "an unconfirmed order has prices"
		case (o.outcome == schemas.StatusRejected || o.outcome == schemas.StatusCancelled) && r.reason == "":
			problem = "no reason"
		}
		if problem != "" {
			if bad++; bad <= 10 {
				t.Errorf("order %d (%s): %s", o.n, o.id, problem)
			}
		}
	}
	if bad > 10 {
		t.Errorf("… %d orders wrong in all", bad)
	}
}
