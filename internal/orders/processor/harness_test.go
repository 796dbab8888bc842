package processor_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/inventory"
	"github.com/orderpipe/orderpipe/internal/orders/processor"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// rig is one test's Kafka with every contract topic, a producer that
// partitions like the ingress (requests by orderId, the rest by key), and
// in-process inventory and order processors.
type rig struct {
	t     *testing.T
	env   *testenv.KafkaEnv
	names kafka.Names
	cl    *kgo.Client
}

func newRig(t *testing.T) *rig {
	t.Helper()
	env := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kafka.Apply(ctx, env.Client(t), kafka.Spec(env.Config, kafka.SpecOptions{}), io.Discard); err != nil {
		t.Fatal(err)
	}
	cl, err := kafka.NewProducer(env.Config, nil, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &rig{t: t, env: env, names: kafka.TopicNames(env.Config.TopicPrefix), cl: cl}
}

func logger() *slog.Logger {
	if os.Getenv("SAGA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func streamsConfig(instance string) streams.Config {
	c := streams.DefaultConfig()
	c.InstanceID = instance
	c.CommitInterval = 50 * time.Millisecond
	c.SessionTimeout = 6 * time.Second
	c.TransactionTimeout = 10 * time.Second
	return c
}

// run runs topo until the test ends (or stop is called).
func (r *rig) run(topo *streams.Topology, instance string) (stop func()) {
	r.t.Helper()
	p, err := streams.New(topo, r.env.Config, streamsConfig(instance), streams.WithLogger(logger()))
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				r.t.Errorf("%s: Run: %v", topo.Group(), err)
			}
		case <-time.After(30 * time.Second):
			r.t.Errorf("%s: Run did not return", topo.Group())
		}
	}
	r.t.Cleanup(stop)
	return stop
}

func (r *rig) runInventory() func() {
	return r.run(inventory.NewProcessor(r.names).Topology(), "inventory-0")
}

func (r *rig) runSaga(cfg processor.Config) func() {
	return r.run(processor.New(r.names, cfg).Topology(), "saga-0")
}

func (r *rig) produce(rs ...*kgo.Record) {
	r.t.Helper()
	for _, rec := range rs {
		if rec.Topic == r.names.OrderRequests {
			continue // partitioned by orderId already
		}
		rec.Partition = kafka.PartitionFor(rec.Key, r.env.Config.OrderPartitions)
		if rec.Topic == r.names.InventoryCommands || rec.Topic == r.names.CatalogProducts {
			rec.Partition = kafka.PartitionFor(rec.Key, r.env.Config.ProductPartitions)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		r.t.Fatal(err)
	}
}

func jsonValue(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seed writes products (USD prices) and their initial stock.
func (r *rig) seed(prices map[string]int64, stock map[string]int64) {
	var rs []*kgo.Record
	for id, price := range prices {
		rs = append(rs, &kgo.Record{Topic: r.names.CatalogProducts, Key: []byte(id), Value: jsonValue(r.t, schemas.Product{
			ProductID: id, Name: id, CategoryID: "c", Price: schemas.Money{Amount: price, Currency: "USD"}, Active: true, Version: 1, UpdatedAt: time.Now()})})
	}
	for id, n := range stock {
		v := n
		rs = append(rs, &kgo.Record{Topic: r.names.InventoryCommands, Key: []byte(id), Value: jsonValue(r.t, schemas.InventoryCommand{
			Type: schemas.CmdAdjust, ProductID: id, AdjustmentID: "initial-" + id, Absolute: &v, IssuedAt: time.Now()})})
	}
	r.produce(rs...)
}

// order is a request as the ingress would write it.
type order struct {
	scope, key string
	lines      []schemas.Line
	customer   string
}

func (o order) id() string { return schemas.OrderID(o.scope, o.key) }

func (o order) record(r *rig) *kgo.Record {
	body := jsonValue(r.t, map[string]any{"customerId": o.customer, "lines": o.lines})
	sum := sha256.Sum256(body)
	req := schemas.OrderRequest{
		OrderID: o.id(), Scope: o.scope, IdempotencyKey: o.key, BodyHash: hex.EncodeToString(sum[:]),
		CustomerID: o.customer, Currency: "USD", ReceivedAt: time.Now(), Lines: o.lines,
		ShippingAddress: schemas.Address{AddressLine1: "1 Main St", City: "Springfield", PostalCode: "62701", Country: "US"},
	}
	return &kgo.Record{Topic: r.names.OrderRequests, Key: schemas.RequestKey(o.scope, o.key),
		Partition: kafka.PartitionFor([]byte(o.id()), r.env.Config.OrderPartitions), Value: jsonValue(r.t, req)}
}

func (r *rig) cancel(orderID, commandID string) *kgo.Record {
	return &kgo.Record{Topic: r.names.OrderCommands, Key: []byte(orderID), Value: jsonValue(r.t, schemas.OrderCommand{
		Type: schemas.CommandCancel, OrderID: orderID, CommandID: commandID, Reason: "test", RequestedAt: time.Now()})}
}

// read reads topic with read_committed from the start until done says so
// or timeout passes.
func (r *rig) read(topic string, timeout time.Duration, done func([]*kgo.Record) bool) []*kgo.Record {
	r.t.Helper()
	cl := r.env.Client(r.t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []*kgo.Record
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(rec *kgo.Record) { got = append(got, rec) })
		if done(got) {
			break
		}
	}
	return got
}

// settle reads topic until it has at least one record and nothing new
// arrived for quiet.
func (r *rig) settle(topic string, quiet, timeout time.Duration) []*kgo.Record {
	var last int
	var since time.Time
	return r.read(topic, timeout, func(got []*kgo.Record) bool {
		if len(got) == 0 || len(got) != last || since.IsZero() {
			last, since = len(got), time.Now()
			return false
		}
		return time.Since(since) > quiet
	})
}

// events groups orders.events.v1 by order: the types in offset order.
func events(t *testing.T, rs []*kgo.Record) map[string][]schemas.OrderEvent {
	out := map[string][]schemas.OrderEvent{}
	for _, r := range rs {
		var ev schemas.OrderEvent
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != ev.OrderID {
			t.Errorf("event of %s on key %s", ev.OrderID, r.Key)
		}
		out[ev.OrderID] = append(out[ev.OrderID], ev)
	}
	return out
}

// terminal returns the order's terminal event, failing unless the order has
// exactly one OrderPlaced (version 1) followed by exactly one outcome (version 2).
func terminal(t *testing.T, id string, evs []schemas.OrderEvent) schemas.OrderEvent {
	t.Helper()
	if len(evs) != 2 || evs[0].Type != schemas.TypeOrderPlaced || evs[0].Version != 1 || evs[1].Version != 2 {
		var types []string
		for _, e := range evs {
			types = append(types, fmt.Sprintf("%s v%d", e.Type, e.Version))
		}
		t.Fatalf("order %s: events %v, want OrderPlaced v1 then one outcome v2", id, types)
	}
	return evs[1]
}

// stock returns the last committed snapshot per product.
func (r *rig) stock(want func(map[string]schemas.StockSnapshot) bool) map[string]schemas.StockSnapshot {
	r.t.Helper()
	out := map[string]schemas.StockSnapshot{}
	r.read(r.names.InventoryStock, 60*time.Second, func(got []*kgo.Record) bool {
		clear(out)
		for _, rec := range got {
			var s schemas.StockSnapshot
			if err := json.Unmarshal(rec.Value, &s); err != nil {
				r.t.Fatal(err)
			}
			if s.Version > out[s.ProductID].Version {
				out[s.ProductID] = s
			}
		}
		return want(out)
	})
	return out
}

// validateAll checks every record of topic against the contract (value by
// ce_type, strict; headers).
func (r *rig) validateAll(v *schemas.Validator, rs []*kgo.Record) {
	r.t.Helper()
	for _, rec := range rs {
		h := map[string]string{}
		for _, x := range rec.Headers {
			h[x.Key] = string(x.Value)
		}
		if err := v.ValidateHeaders(h); err != nil {
			r.t.Errorf("%s offset %d headers: %v", rec.Topic, rec.Offset, err)
		}
		if h[kafka.HeaderSource] != processor.Source && rec.Topic != r.names.InventoryCommands {
			r.t.Errorf("%s offset %d: ce_source %q", rec.Topic, rec.Offset, h[kafka.HeaderSource])
		}
		if err := v.ValidateRecord(h[kafka.HeaderType], rec.Value); err != nil {
			r.t.Errorf("%s offset %d: %v\n%s", rec.Topic, rec.Offset, err, rec.Value)
		}
	}
}
