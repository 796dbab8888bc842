package sink_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/orders/sink"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// TestSinkWritesEveryOrderOnce: orders written by a transactional producer
// as the saga writes them (placed, then confirmed/rejected/cancelled, some
// left pending; plus an aborted transaction) end up in PostgreSQL with the
// right status and version, three lines each, prices and total = Σ line
// totals for confirmed orders, one history row per status — each written by
// exactly one committed transaction — and the stored offsets let a restarted
// sink resume without writing anything again.
func TestSinkWritesEveryOrderOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := newFixture(t, ctx, testenv.Postgres(t))
	f.countAttempts(t, ctx)
	os := orders(t.Name(), 300)
	s := f.saga(t, "saga")

	// An aborted transaction must leave no trace.
	ghost := order{id: schemas.OrderID("ghost", "1"), n: 9999, outcome: schemas.StatusConfirmed}
	s.commit(ctx, append(f.records(t, ghost, 1, schemas.StatusPending), f.records(t, ghost, 2, schemas.StatusConfirmed)...), true)

	reg, stop := f.runSink(t, f.sinkCfg("order-sink"), f.pool)
	f.produce(t, ctx, s, os[:150], 25)
	f.waitRows(t, ctx, os[:150], time.Minute)
	stop() // a restart mid-stream: the next sink resumes from PostgreSQL's offsets
	committed := metric(t, reg, "orderpipe_order_sink_records_total")

	reg2, _ := f.runSink(t, f.sinkCfg("order-sink"), f.pool)
	f.produce(t, ctx, s, os[150:], 25)
	f.waitRows(t, ctx, os, time.Minute)
	f.verify(t, ctx, os)

	if h, o := f.maxAttempts(t, ctx); h != 1 || o != 1 {
		t.Errorf("a record was written by more than one transaction: history ×%d, orders ×%d", h, o)
	}
	var confirmed, sumTotals int64
	if err := f.pool.QueryRow(ctx, `SELECT count(*), COALESCE(sum(total_amount), 0) FROM orders WHERE status = 'CONFIRMED'`).Scan(&confirmed, &sumTotals); err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, o := range os {
		if o.outcome == schemas.StatusConfirmed {
			want += o.total()
		}
	}
	if sumTotals != want {
		t.Errorf("Σ totals of confirmed orders = %d, want %d", sumTotals, want)
	}
	// Every data record was committed exactly once across the two sinks.
	records := 0
	for _, o := range os {
		records += 2
		if o.outcome != schemas.StatusPending {
			records += 2
		}
	}
	if got := committed + metric(t, reg2, "orderpipe_order_sink_records_total"); int(got) != records {
		t.Errorf("sinks committed %d records, the topics hold %d", int(got), records)
	}
	var positions int64
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM sink_offsets WHERE consumer = $1 AND next_offset > 0`, f.kafka.TopicPrefix+"order-sink").Scan(&positions); err != nil || positions != 6 {
		t.Errorf("sink_offsets has %d positions, want 6 (3 partitions × 2 topics): %v", positions, err)
	}
}

// TestSinkReplaysAreHarmless: records read again — duplicates of events
// (same ce_id), older states after newer ones, a whole replay from offset 0
// by a sink whose stored offsets were deleted — change nothing.
func TestSinkReplaysAreHarmless(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := newFixture(t, ctx, testenv.Postgres(t))
	os := orders(t.Name(), 100)
	s := f.saga(t, "saga")
	f.produce(t, ctx, s, os, 20)
	_, stop := f.runSink(t, f.sinkCfg("order-sink"), f.pool)
	f.waitRows(t, ctx, os, time.Minute)

	// Duplicates and stale states, written again by a producer.
	var again []*kgo.Record
	for _, o := range os[:40] {
		again = append(again, f.records(t, o, 1, schemas.StatusPending)...)
		if o.outcome != schemas.StatusPending {
			again = append(again, f.records(t, o, 2, o.outcome)...)
		}
	}
	s.commit(ctx, again, false)
	marker := order{id: schemas.OrderID("marker", t.Name()), n: 7, outcome: schemas.StatusPending}
	f.produce(t, ctx, s, []order{marker}, 1)
	f.waitRows(t, ctx, append(append([]order(nil), os...), marker), time.Minute)
	stop()

	// Forget every stored offset: a fresh sink replays both topics from the start.
	var end int64
	if err := f.pool.QueryRow(ctx, `SELECT sum(next_offset) FROM sink_offsets`).Scan(&end); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `DELETE FROM sink_offsets`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE orders SET persisted_at = 'epoch'`); err != nil {
		t.Fatal(err)
	}
	_, _ = f.runSink(t, f.sinkCfg("order-sink-replay"), f.pool)
	testenv.Eventually(t, time.Minute, "the replay reaches the stored offsets", func() error {
		var replayed int64
		if err := f.pool.QueryRow(ctx, `SELECT COALESCE(sum(next_offset), 0) FROM sink_offsets`).Scan(&replayed); err != nil {
			t.Fatal(err)
		}
		if replayed != end {
			return fmt.Errorf("offsets Σ %d, want %d", replayed, end)
		}
		return nil
	})
	f.verify(t, ctx, append(os, marker))
	var touched int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE persisted_at > 'epoch'`).Scan(&touched); err != nil || touched != 0 {
		t.Errorf("the replay rewrote %d orders rows (%v); versions already stored must not be written again", touched, err)
	}
}

// TestSinkDeadLettersWhatItCannotWrite: a record that is not JSON, an order
// whose total is not the sum of its lines, and one PostgreSQL itself refuses
// (a NUL byte in a text field) go to the topic's DLQ with the reason; the
// partition keeps moving and the good orders around them are written.
func TestSinkDeadLettersWhatItCannotWrite(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := newFixture(t, ctx, testenv.Postgres(t))
	os := orders(t.Name(), 30)
	s := f.saga(t, "saga")
	f.produce(t, ctx, s, os[:10], 10)

	badID := schemas.OrderID("poison", "1")
	nulID := schemas.OrderID("poison", "2")
	wrong := order{id: schemas.OrderID("poison", "3"), n: 3, outcome: schemas.StatusConfirmed}
	wrongTotal := f.records(t, wrong, 2, schemas.StatusConfirmed)[1]
	wrongTotal.Value = []byte(string(wrongTotal.Value[:len(wrongTotal.Value)-1]) + `,"total":{"amount":1,"currency":"USD"}}`)
	nul := order{id: nulID, n: 4, outcome: schemas.StatusPending}
	nulState := f.records(t, nul, 1, schemas.StatusPending)[1]
	nulState.Value = []byte(`{"orderId":"` + nulID + `","version":1,"status":"PENDING","customerId":"bad\u0000customer","shippingAddress":{"addressLine1":"a","city":"b","stateOrProvince":"c","postalCode":"d","country":"US"},"lines":[{"productId":"p","quantity":1}],"currency":"USD","createdAt":"2026-11-27T09:00:00Z","updatedAt":"2026-11-27T09:00:00Z"}`)
	s.commit(ctx, []*kgo.Record{
		kafka.NewRecord(ctx, f.names.OrderState, []byte(badID), []byte("{not json"), kafka.Event{Type: schemas.TypeOrderState, Source: "/test"}),
		wrongTotal, nulState,
	}, false)
	f.produce(t, ctx, s, os[10:], 10)

	_, _ = f.runSink(t, f.sinkCfg("order-sink"), f.pool)
	f.waitRows(t, ctx, os, time.Minute)
	f.verify(t, ctx, os)

	cl := f.env.Client(t, kgo.ConsumeTopics(kafka.DLQ(f.names.OrderState)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	reasons := map[string]string{}
	deadline := time.Now().Add(30 * time.Second)
	for len(reasons) < 3 && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			reasons[string(r.Key)] = kafka.Header(r, schemas.DLQHeaderReason) + ": " + kafka.Header(r, schemas.DLQHeaderError)
			if kafka.Header(r, schemas.DLQHeaderTopic) != f.names.OrderState || kafka.Header(r, schemas.DLQHeaderStage) != "order-sink" ||
				kafka.Header(r, schemas.DLQHeaderGroup) != f.kafka.TopicPrefix+"order-sink" || kafka.Header(r, kafka.HeaderType) != schemas.TypeOrderState {
				t.Errorf("dead letter headers: %v", r.Headers)
			}
			if _, err := strconv.ParseInt(kafka.Header(r, schemas.DLQHeaderOffset), 10, 64); err != nil {
				t.Errorf("dlq_offset: %v", err)
			}
		})
		pcancel()
	}
	for id, want := range map[string]string{badID: schemas.DLQReasonDecode, wrong.id: schemas.DLQReasonInvalid, nulID: schemas.DLQReasonRefused} {
		if !strings.HasPrefix(reasons[id], want+": ") {
			t.Errorf("order %s: dead letter %q, want reason %s (have %v)", id, reasons[id], want, reasons)
		}
	}
	t.Logf("dead letters: %v", reasons)
}

// TestTwoSinksNeverWriteTheSameRecords: two sinks that both consume every
// partition (separate consumer groups) under one sink name, plus a third
// joining one of the groups mid-run (rebalance), race to write the same
// records while the saga produces. Fencing on the stored offsets lets each
// record be committed by exactly one transaction: PostgreSQL counts one
// committed write per status change and per order version, the sinks'
// committed record counts add up to what the topics hold, and the race
// really happened (fenced batches > 0).
func TestTwoSinksNeverWriteTheSameRecords(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := newFixture(t, ctx, testenv.Postgres(t))
	f.countAttempts(t, ctx)
	os := orders(t.Name(), 300)
	s := f.saga(t, "saga")

	cfgA, cfgB := f.sinkCfg("sink-a"), f.sinkCfg("sink-b")
	cfgA.Name, cfgB.Name = "shared-sink", "shared-sink"
	cfgA.MaxBatch, cfgB.MaxBatch = 50, 50
	regA, _ := f.runSink(t, cfgA, f.pool)
	regB, _ := f.runSink(t, cfgB, f.pool)
	f.produce(t, ctx, s, os[:150], 15)
	regC, _ := f.runSink(t, cfgA, f.pool) // joins group A: a rebalance mid-stream
	f.produce(t, ctx, s, os[150:], 15)
	f.waitRows(t, ctx, os, 2*time.Minute)
	time.Sleep(500 * time.Millisecond) // let any late, losing batch try
	f.verify(t, ctx, os)

	if h, o := f.maxAttempts(t, ctx); h != 1 || o != 1 {
		t.Errorf("records were written twice: history ×%d, orders ×%d", h, o)
	}
	records := 0
	for _, o := range os {
		records += 2
		if o.outcome != schemas.StatusPending {
			records += 2
		}
	}
	total, fenced := 0.0, 0.0
	for _, reg := range []*prometheus.Registry{regA, regB, regC} {
		total += metric(t, reg, "orderpipe_order_sink_records_total")
		fenced += metric(t, reg, "orderpipe_order_sink_fenced_total")
	}
	if int(total) != records {
		t.Errorf("the sinks committed %d records between them, the topics hold %d", int(total), records)
	}
	if fenced == 0 {
		t.Errorf("no batch was fenced: the sinks did not contend, the test proves nothing")
	}
	t.Logf("%d records committed once between three sinks; %d partition batches fenced", records, int(fenced))
}

// TestSecondSinkWithTheSameInstanceIDStopsTheFirst: group.instance.id is
// static membership — a sink restarted after kill -9 with its slot's id
// takes the partitions back at once — so two running sinks must never share
// one. When a second joins with the id of a running one, the broker fences
// the first; it stops with ErrInstanceIDInUse instead of rejoining and
// fencing the second in turn.
func TestSecondSinkWithTheSameInstanceIDStopsTheFirst(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newFixture(t, ctx, testenv.Postgres(t))
	os := orders(t.Name(), 40)
	s := f.saga(t, "saga")
	cfg := f.sinkCfg("order-sink")
	cfg.InstanceID = "order-processor-0"

	first, err := sink.New(cfg, f.pool, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.Run(ctx) }()
	f.produce(t, ctx, s, os[:20], 10)
	f.waitRows(t, ctx, os[:20], time.Minute) // the first is a member and writes

	_, stopSecond := f.runSink(t, cfg, f.pool)
	defer stopSecond()
	select {
	case err := <-firstDone:
		if !errors.Is(err, sink.ErrInstanceIDInUse) {
			t.Fatalf("first sink returned %v, want ErrInstanceIDInUse", err)
		}
		t.Logf("first sink stopped: %v", err)
	case <-ctx.Done():
		t.Fatal("the first sink kept running after another joined with its group.instance.id")
	}
	first.Close()
	f.produce(t, ctx, s, os[20:], 10)
	f.waitRows(t, ctx, os, time.Minute) // the second carries on
	f.verify(t, ctx, os)
}
