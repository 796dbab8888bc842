package projector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/orders/projector"
	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/localstack"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type env struct {
	kafka config.Kafka
	topic string
	saga  *kgo.Client
}

func newEnv(t *testing.T, ctx context.Context) *env {
	t.Helper()
	k := testenv.Kafka(t)
	e := &env{kafka: k.Config, topic: kafka.TopicNames(k.Config.TopicPrefix).OrderState}
	var topics []kafka.Topic
	for _, tp := range kafka.Spec(k.Config, kafka.SpecOptions{}) {
		if tp.Name == e.topic {
			topics = append(topics, tp)
		}
	}
	if _, err := kafka.Apply(ctx, k.Client(t), topics, io.Discard); err != nil {
		t.Fatal(err)
	}
	saga, err := kafka.NewProducer(k.Config, nil, kgo.TransactionalID(k.Config.TopicPrefix+"saga"), kgo.TransactionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(saga.Close)
	e.saga = saga
	return e
}

func state(id string, n int, version int64) schemas.OrderState {
	s := schemas.OrderState{OrderID: id, Version: version, Status: schemas.StatusPending, CustomerID: "c-" + strconv.Itoa(n%7),
		ShippingAddress: schemas.Address{AddressLine1: "a", City: "b", StateOrProvince: "c", PostalCode: "d", Country: "US"},
		Lines:           []schemas.Line{{ProductID: "p-1", Quantity: 1}, {ProductID: "p-2", Quantity: 2}, {ProductID: "p-3", Quantity: 3}},
		Currency:        "USD", CreatedAt: time.Unix(1_800_000_000, 0).UTC(), UpdatedAt: time.Unix(1_800_000_000+version, 0).UTC()}
	if version >= 2 {
		if n%3 == 0 {
			s.Status, s.Reason = schemas.StatusRejected, schemas.ReasonInsufficientStock
		} else {
			s.Status = schemas.StatusConfirmed
			var total int64
			for i, l := range s.Lines {
				u := int64(100 * (i + 1))
				s.PricedLines = append(s.PricedLines, schemas.PricedLine{LineNo: i + 1, ProductID: l.ProductID, Quantity: l.Quantity,
					UnitPrice: schemas.Money{Amount: u, Currency: "USD"}, LineTotal: schemas.Money{Amount: u * int64(l.Quantity), Currency: "USD"}})
				total += u * int64(l.Quantity)
			}
			s.Total = &schemas.Money{Amount: total, Currency: "USD"}
		}
	}
	return s
}

// txn writes states in one transaction (aborted when abort is set).
func (e *env) txn(t *testing.T, ctx context.Context, states []schemas.OrderState, abort bool) {
	t.Helper()
	if err := e.saga.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	// One ProduceSync for the whole transaction: record by record, 200
	// round trips on a loaded machine can outlast the transaction timeout.
	recs := make([]*kgo.Record, 0, len(states))
	for _, s := range states {
		b, _ := json.Marshal(s)
		recs = append(recs, kafka.NewRecord(ctx, e.topic, []byte(s.OrderID), b, kafka.Event{Type: schemas.TypeOrderState, Source: "/orderpipe/order-processor"}))
	}
	if err := e.saga.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	end := kgo.TryCommit
	if abort {
		end = kgo.TryAbort
	}
	if err := e.saga.EndTransaction(ctx, end); err != nil {
		t.Fatal(err)
	}
}

func (e *env) run(t *testing.T, rdb orderview.Pipeliner, prefix string) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := projector.New(projector.Config{Kafka: e.kafka, KeyPrefix: prefix, MaxBatch: 100,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond},
		rdb, slog.New(slog.NewTextHandler(testWriter{t}, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := p.Run(ctx); err != nil {
			t.Errorf("projector.Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); p.Close() })
	return reg
}

// waitViews waits until every order's view has its wanted version.
func waitViews(t *testing.T, ctx context.Context, rdb redis.Cmdable, prefix string, want map[string]int64, within time.Duration) {
	t.Helper()
	testenv.Eventually(t, within, "every order view at its version", func() error {
		missing := 0
		var example string
		for id, v := range want {
			view, err := orderview.Read(ctx, rdb, prefix, id)
			if err != nil || view.Version != v {
				missing++
				if example == "" {
					if err != nil {
						example = fmt.Sprintf("%s: %v", id, err)
					} else {
						example = fmt.Sprintf("%s at version %d, want %d", id, view.Version, v)
					}
				}
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d order views not at their version (e.g. %s)", missing, len(want), example)
		}
		return nil
	})
}

func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == label) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// TestProjectorKeepsTheNewestVersion: the projector writes every order's
// view under REDIS_KEY_PREFIX; an older version never overwrites a newer one
// (a replayed v1 after v2, a v2 when Redis already holds v5), and a state
// from an aborted transaction never shows.
func TestProjectorKeepsTheNewestVersion(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newEnv(t, ctx)
	r := testenv.Redis(t)
	opts, _ := redis.ParseURL(r.URL)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })

	want := map[string]int64{}
	var v1, v2 []schemas.OrderState
	for i := range 200 {
		id := schemas.OrderID(t.Name(), strconv.Itoa(i))
		v1, v2 = append(v1, state(id, i, 1)), append(v2, state(id, i, 2))
		want[id] = 2
	}
	// Redis already holds a newer version of ten orders.
	for _, s := range v2[:10] {
		newer := orderview.FromState(state(s.OrderID, 1, 5))
		if ok, err := orderview.Write(ctx, rdb, r.Prefix, newer, 0); err != nil || !ok {
			t.Fatal(ok, err)
		}
		want[s.OrderID] = 5
	}
	e.txn(t, ctx, v1, false)
	e.txn(t, ctx, v2, false)
	e.txn(t, ctx, v1[:50], false) // a replay of old versions
	ghost := state(schemas.OrderID(t.Name(), "ghost"), 1, 9)
	e.txn(t, ctx, append([]schemas.OrderState{ghost}, state(v2[20].OrderID, 20, 9)), true)
	last := state(schemas.OrderID(t.Name(), "last"), 1, 1)
	e.txn(t, ctx, []schemas.OrderState{last}, false)
	want[last.OrderID] = 1

	reg := e.run(t, rdb, r.Prefix)
	waitViews(t, ctx, rdb, r.Prefix, want, time.Minute)

	for i, s := range v2[10:] {
		v, err := orderview.Read(ctx, rdb, r.Prefix, s.OrderID)
		if err != nil || v.Status != s.Status || len(v.Lines) != 3 || v.CustomerID != s.CustomerID {
			t.Fatalf("order %d: view %+v (%v), want %s", i+10, v, err, s.Status)
		}
		if s.Status == schemas.StatusConfirmed && (v.Total == nil || v.Total.Amount != s.Total.Amount || v.Lines[2].LineTotal == nil) {
			t.Fatalf("order %d: view without prices: %+v", i+10, v)
		}
	}
	if _, err := orderview.Read(ctx, rdb, r.Prefix, ghost.OrderID); !errors.Is(err, orderview.ErrNotFound) {
		t.Errorf("a state from an aborted transaction shows in Redis: %v", err)
	}
	// Every key the projector wrote is under the prefix.
	keys, err := rdb.Keys(ctx, "*"+v2[30].OrderID+"*").Result()
	if err != nil || len(keys) != 1 || keys[0] != orderview.Key(r.Prefix, v2[30].OrderID) {
		t.Errorf("keys for one order = %v (%v), want exactly %s", keys, err, orderview.Key(r.Prefix, v2[30].OrderID))
	}
	if n, _ := rdb.Keys(ctx, r.Prefix+"orderview:*").Result(); len(n) != 201 {
		t.Errorf("%d views under the prefix, want 201", len(n))
	}
	if stale := counter(t, reg, "orderpipe_order_projector_writes_total", "stale"); stale < 10 {
		t.Errorf("only %v writes were refused as stale; the v5 orders alone should refuse 10", stale)
	}
}

// TestProjectorWaitsOutARedisOutage: Redis (a private instance) is killed
// while states keep arriving; the projector pauses, retries, and once Redis
// is back every view reaches its newest version.
func TestProjectorWaitsOutARedisOutage(t *testing.T) {
	if os.Getenv("LOCALSTACK_TEST") != "1" {
		t.Skip("set LOCALSTACK_TEST=1 to start a private Redis (make test does)")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localstack.StartRedis(ctx, localstack.RedisOptions{Dir: filepath.Join(root, ".local", "localstack-test", t.Name()), Out: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Kill() })
	opts, _ := redis.ParseURL(srv.URL())
	opts.MaxRetries = -1
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	e := newEnv(t, ctx)
	reg := e.run(t, rdb, "p:")

	want := map[string]int64{}
	var v1, v2 []schemas.OrderState
	for i := range 100 {
		id := schemas.OrderID(t.Name(), strconv.Itoa(i))
		v1, v2 = append(v1, state(id, i, 1)), append(v2, state(id, i, 2))
		want[id] = 2
	}
	e.txn(t, ctx, v1, false)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	e.txn(t, ctx, v2, false)
	testenv.Eventually(t, 30*time.Second, "the projector pauses while Redis is down", func() error {
		if paused := counter(t, reg, "orderpipe_order_projector_paused", ""); paused != 1 {
			return fmt.Errorf("orderpipe_order_projector_paused = %v", paused)
		}
		return nil
	})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitViews(t, ctx, rdb, "p:", want, time.Minute)
}

// TestSecondProjectorWithTheSameInstanceIDStopsTheFirst: the projector is a
// static group member (group.instance.id = the slot's INSTANCE_ID); when a
// second joins with the id of a running one, the first is fenced and stops
// with ErrInstanceIDInUse instead of fencing the second in turn, and the
// second carries on.
func TestSecondProjectorWithTheSameInstanceIDStopsTheFirst(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newEnv(t, ctx)
	r := testenv.Redis(t)
	opts, _ := redis.ParseURL(r.URL)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	cfg := projector.Config{Kafka: e.kafka, KeyPrefix: r.Prefix, MaxBatch: 100, InstanceID: "order-processor-0"}
	newProjector := func() *projector.Projector {
		p, err := projector.New(cfg, rdb, slog.New(slog.NewTextHandler(testWriter{t}, nil)), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := map[string]int64{}
	batch := func(from, to int) {
		var states []schemas.OrderState
		for n := from; n < to; n++ {
			id := schemas.OrderID(t.Name(), strconv.Itoa(n))
			states = append(states, state(id, n, 1))
			want[id] = 1
		}
		e.txn(t, ctx, states, false)
	}

	first := newProjector()
	defer first.Close()
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.Run(ctx) }()
	batch(0, 20)
	waitViews(t, ctx, rdb, r.Prefix, want, time.Minute) // the first is a member and writes

	second := newProjector()
	secondCtx, stopSecond := context.WithCancel(ctx)
	secondDone := make(chan error, 1)
	go func() { secondDone <- second.Run(secondCtx) }()
	defer func() {
		stopSecond()
		if err := <-secondDone; err != nil {
			t.Errorf("second projector: %v", err)
		}
		second.Close()
	}()
	select {
	case err := <-firstDone:
		if !errors.Is(err, projector.ErrInstanceIDInUse) {
			t.Fatalf("first projector returned %v, want ErrInstanceIDInUse", err)
		}
		t.Logf("first projector stopped: %v", err)
	case <-ctx.Done():
		t.Fatal("the first projector kept running after another joined with its group.instance.id")
	}
	first.Close()
	batch(20, 40)
	waitViews(t, ctx, rdb, r.Prefix, want, time.Minute) // the second carries on
}
