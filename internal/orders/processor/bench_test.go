package processor_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
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

// BenchmarkSagaWithInventory measures the processing core on real Kafka,
// exactly-once: b.N order requests (3 lines over 10,000 products) are
// pre-loaded on orders.requests.v1; the saga and the inventory-processor
// run in this process; the clock runs from both being ready until every
// OrderConfirmed is visible to a read_committed reader. No HTTP, no
// PostgreSQL: the ceiling the ingress and the sink sit around.
//
//	go test -run '^$' -bench SagaWithInventory -benchtime 100000x ./internal/orders/processor/
//
// SAGA_BENCH_CPUPROFILE=path writes a CPU profile of the timed part.
func BenchmarkSagaWithInventory(b *testing.B) {
	if b.N == 1 {
		return // the framework's probe run
	}
	env := testenv.Kafka(b)
	kc := env.Config
	kc.OrderPartitions, kc.ProductPartitions = 6, 6
	names := kafka.TopicNames(kc.TopicPrefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if _, err := kafka.Apply(ctx, env.Client(b), kafka.Spec(kc, kafka.SpecOptions{}), io.Discard); err != nil {
		b.Fatal(err)
	}
	cl, err := kafka.NewProducer(kc, nil, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(10*time.Millisecond),
		kgo.MaxBufferedRecords(100_000))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	send := func(r *kgo.Record) {
		wg.Add(1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	const products = 10_000
	now := time.Now().UTC()
	for i := 0; i < products; i++ {
		id := "p" + strconv.Itoa(i)
		stock := int64(1 << 40)
		for _, r := range []*kgo.Record{
			{Topic: names.CatalogProducts, Key: []byte(id), Value: jsonValue(b, schemas.Product{ProductID: id, Name: id, CategoryID: "c",
				Price: schemas.Money{Amount: int64(100 + i), Currency: "USD"}, Active: true, Version: 1, UpdatedAt: now})},
			{Topic: names.InventoryCommands, Key: []byte(id), Value: jsonValue(b, schemas.InventoryCommand{Type: schemas.CmdAdjust,
				ProductID: id, AdjustmentID: "initial", Absolute: &stock, IssuedAt: now})},
		} {
			r.Partition = kafka.PartitionFor(r.Key, kc.ProductPartitions)
			send(r)
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < b.N; i++ {
		key := "k" + strconv.Itoa(i)
		id := schemas.OrderID("cust", key)
		sum := sha256.Sum256([]byte(key))
		lines := make([]schemas.Line, 3)
		for j := range lines {
			lines[j] = schemas.Line{ProductID: "p" + strconv.Itoa(rnd.IntN(products)), Quantity: 1 + rnd.IntN(3)}
		}
		v, _ := json.Marshal(schemas.OrderRequest{OrderID: id, Scope: "cust", IdempotencyKey: key, BodyHash: hex.EncodeToString(sum[:]),
			CustomerID: "cust", Currency: "USD", ReceivedAt: now, Lines: lines,
			ShippingAddress: schemas.Address{AddressLine1: "1 Main St", City: "Springfield", PostalCode: "62701", Country: "US"}})
		send(&kgo.Record{Topic: names.OrderRequests, Key: schemas.RequestKey("cust", key), Value: v,
			Partition: kafka.PartitionFor([]byte(id), kc.OrderPartitions)})
	}
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}

	cfg := streams.DefaultConfig()
	run := func(topo *streams.Topology, instance string) *streams.Processor {
		c := cfg
		c.InstanceID = instance
		p, err := streams.New(topo, kc, c)
		if err != nil {
			b.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(runCtx) }()
		b.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				b.Error(err)
			}
		})
		return p
	}
	counter := env.Client(b, kgo.ConsumeTopics(names.OrderEvents), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	inv := run(inventory.NewProcessor(names).Topology(), "inventory-0")
	for inv.Tasks() < kc.ProductPartitions {
		time.Sleep(5 * time.Millisecond)
	}
	if path := os.Getenv("SAGA_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	b.ResetTimer()
	cpu0, broker0 := selfCPU(), brokerCPU()
	start := time.Now()
	run(processor.New(names, processor.DefaultConfig()).Topology(), "saga-0")
	confirmed := 0
	for confirmed < b.N {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		counter.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			if kafka.Header(r, kafka.HeaderType) == schemas.TypeOrderConfirmed {
				confirmed++
			}
		})
		pcancel()
		if time.Since(start) > 20*time.Minute {
			b.Fatalf("%d of %d orders confirmed after %s", confirmed, b.N, time.Since(start))
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
	b.ReportMetric(0, "ns/op")
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("%d orders placed, reserved and confirmed in %s (%.0f orders/s, saga joining its group included); "+
		"CPU per order: this process (saga + inventory) %.0f µs, broker %.0f µs (SAGA_BENCH_BROKER_PID); loadavg %s",
		b.N, elapsed.Round(time.Millisecond), float64(b.N)/elapsed.Seconds(),
		(selfCPU()-cpu0)/float64(b.N)*1e6, (brokerCPU()-broker0)/float64(b.N)*1e6, load)
}

func selfCPU() float64 { return procCPU("self") }

func brokerCPU() float64 {
	if pid := os.Getenv("SAGA_BENCH_BROKER_PID"); pid != "" {
		return procCPU(pid)
	}
	return 0
}

// procCPU reads utime+stime of /proc/<pid>/stat in seconds (ticks of 10 ms).
func procCPU(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}
