package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/orders"
	"github.com/orderpipe/orderpipe/internal/orders/processor"
	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/health"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/telemetry"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestServiceRunsSinkAndProjector: the order-processor service migrates an
// empty database on start and runs the sink and the projector side by side:
// orders the saga writes reach PostgreSQL (rows, lines, history) and Redis
// (views), it reports ready, and it stops cleanly.
func TestServiceRunsSinkAndProjector(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k := testenv.Kafka(t)
	dsn := testenv.Postgres(t)
	r := testenv.Redis(t)
	if _, err := kafka.Apply(ctx, k.Client(t), kafka.Spec(k.Config, kafka.SpecOptions{}), io.Discard); err != nil {
		t.Fatal(err)
	}
	const slot = "order-processor-7" // INSTANCE_ID
	saga := orders.SagaConfig{Streams: streams.DefaultConfig(), Rules: processor.DefaultConfig()}
	saga.Streams.InstanceID = slot
	cfg := orders.Config{Kafka: k.Config, Postgres: config.Postgres{URL: dsn, MaxConns: 4},
		Redis: config.Redis{URL: r.URL, KeyPrefix: r.Prefix}, SinkBatch: 1000, SinkLanes: 2, Saga: saga}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := &app.Env{Name: "order-processor", Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Metrics: telemetry.NewRegistry(), Health: health.NewRegistry(2 * time.Second)}
	svc, err := orders.New(ctx, env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()

	producer, err := kafka.NewProducer(k.Config, nil, kgo.TransactionalID(k.Config.TopicPrefix+"saga"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	names := kafka.TopicNames(k.Config.TopicPrefix)
	var ids []string
	for version := int64(1); version <= 2; version++ {
		if err := producer.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			id := schemas.OrderID(t.Name(), strconv.Itoa(i))
			if version == 1 {
				ids = append(ids, id)
			}
			st, ev := lifecycle(id, version)
			sb, _ := json.Marshal(st)
			eb, _ := json.Marshal(ev)
			if err := producer.ProduceSync(ctx,
				kafka.NewRecord(ctx, names.OrderEvents, []byte(id), eb, kafka.Event{Type: ev.Type, Source: "/orderpipe/order-processor"}),
				kafka.NewRecord(ctx, names.OrderState, []byte(id), sb, kafka.Event{Type: schemas.TypeOrderState, Source: "/orderpipe/order-processor"}),
			).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := producer.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	opts, _ := redis.ParseURL(r.URL)
	rdb := redis.NewClient(opts)
	defer func() { _ = rdb.Close() }()
	testenv.Eventually(t, time.Minute, "every order confirmed in PostgreSQL and in its view", func() error {
		var rows, history int
		qerr := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM orders WHERE status = 'CONFIRMED' AND total_amount = 1500),
			(SELECT count(*) FROM order_status_history)`).Scan(&rows, &history)
		views := 0
		for _, id := range ids {
			if v, err := orderview.Read(ctx, rdb, r.Prefix, id); err == nil && v.Version == 2 {
				views++
			}
		}
		if rows == 20 && history == 40 && views == 20 {
			return nil
		}
		if qerr != nil {
			return fmt.Errorf("%d views at version 2, want 20; PostgreSQL: %w", views, qerr)
		}
		return fmt.Errorf("%d confirmed rows, %d history rows, %d views at version 2; want 20, 40, 20", rows, history, views)
	})
	for name, status := range env.Health.Ready(ctx) {
		if status != "ok" {
			t.Errorf("readiness %s: %s", name, status)
		}
	}
	// Static membership in every group of the processor: the saga's, the
	// sink's and the projector's member is INSTANCE_ID, so a slot restarted
	// after kill -9 takes its partitions back without waiting out the
	// session timeout.
	groups := []string{k.Config.TopicPrefix + processor.Group, k.Config.TopicPrefix + "order-sink", k.Config.TopicPrefix + "order-projector"}
	described, err := kadm.NewClient(k.Client(t)).DescribeGroups(ctx, groups...)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		d, ok := described[g]
		if !ok || d.Err != nil {
			t.Errorf("group %s: %v", g, d.Err)
			continue
		}
		if len(d.Members) != 1 || d.Members[0].InstanceID == nil || *d.Members[0].InstanceID != slot {
			var ids []string
			for _, m := range d.Members {
				ids = append(ids, fmt.Sprint(m.InstanceID))
			}
			t.Errorf("group %s (%s): members' group.instance.id %v, want one, %q", g, d.State, ids, slot)
		}
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if err := svc.Close(ctx); err != nil {
		t.Error(err)
	}
}

func lifecycle(id string, version int64) (schemas.OrderState, schemas.OrderEvent) {
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	st := schemas.OrderState{OrderID: id, Version: version, Status: schemas.StatusPending, CustomerID: "c-1",
		ShippingAddress: schemas.Address{AddressLine1: "a", City: "b", StateOrProvince: "c", PostalCode: "d", Country: "US"},
		Lines:           []schemas.Line{{ProductID: "p-1", Quantity: 1}, {ProductID: "p-2", Quantity: 2}, {ProductID: "p-3", Quantity: 3}},
		Currency:        "USD", CreatedAt: t0, UpdatedAt: t0.Add(time.Duration(version) * time.Second)}
	ev := schemas.OrderEvent{Type: schemas.TypeOrderPlaced, OrderID: id, Version: version, CustomerID: st.CustomerID,
		OccurredAt: st.UpdatedAt, ShippingAddress: &st.ShippingAddress, Lines: st.Lines, Currency: "USD"}
	if version == 2 {
		st.Status = schemas.StatusConfirmed
		for i, l := range st.Lines {
			st.PricedLines = append(st.PricedLines, schemas.PricedLine{LineNo: i + 1, ProductID: l.ProductID, Quantity: l.Quantity,
				UnitPrice: schemas.Money{Amount: 250, Currency: "USD"}, LineTotal: schemas.Money{Amount: 250 * int64(l.Quantity), Currency: "USD"}})
		}
		st.Total = &schemas.Money{Amount: 1500, Currency: "USD"}
		ev = schemas.OrderEvent{Type: schemas.TypeOrderConfirmed, OrderID: id, Version: 2, CustomerID: st.CustomerID,
			OccurredAt: st.UpdatedAt, Currency: "USD", PricedLines: st.PricedLines, Total: st.Total}
	}
	return st, ev
}
