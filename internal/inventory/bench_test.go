package inventory_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/inventory"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// BenchmarkProcessor measures commands/s through the inventory-processor on
// real Kafka, with exactly-once transactions and — same handler, same
// records — at-least-once as the baseline. The workload mirrors the Kafka
// Streams peer (../shared/bench/kstreams-peer): reserve commands keyed by
// productId over 10,000 products, three lines per order, quantities 1–5,
// stock plentiful; the topics have 6 partitions. Each case pre-loads its
// own topics, starts the processor, and times from "tasks ready" until every
// result is visible to a read_committed consumer.
//
//	INVENTORY_BENCH_COMMANDS=1500000 go test -run '^$' -bench Processor -benchtime 1x ./internal/inventory/
//
// Knobs: INVENTORY_BENCH_MODES (eos,at-least-once), INVENTORY_BENCH_PARTITIONS
// (6), INVENTORY_BENCH_THREADS (1), INVENTORY_BENCH_COMMIT_INTERVAL (100ms),
// INVENTORY_BENCH_COMPRESSION (none to turn lz4 off), INVENTORY_BENCH_LINGER
// (the producer's linger, e.g. 10ms), INVENTORY_BENCH_CPUPROFILE
// (a file: CPU profile of the timed part of the eos run).
func BenchmarkProcessor(b *testing.B) {
	n := 300_000
	if v, err := strconv.Atoi(os.Getenv("INVENTORY_BENCH_COMMANDS")); err == nil && v > 0 {
		n = v
	}
	parts := 6
	if v, err := strconv.Atoi(os.Getenv("INVENTORY_BENCH_PARTITIONS")); err == nil && v > 0 {
		parts = v
	}
	results := map[string]float64{}
	modes := []string{"eos", "at-least-once"}
	if v := os.Getenv("INVENTORY_BENCH_MODES"); v != "" {
		modes = strings.Split(v, ",")
	}
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				rate := runBench(b, mode, n, parts)
				results[mode] = rate
				b.ReportMetric(rate, "cmds/s")
			}
		})
	}
	if results["eos"] > 0 && results["at-least-once"] > 0 {
		b.Logf("EOS %.0f cmds/s, at-least-once %.0f cmds/s: EOS costs %.1f%%", results["eos"], results["at-least-once"],
			100*(1-results["eos"]/results["at-least-once"]))
	}
}

const benchProducts = 10_000

func runBench(b *testing.B, mode string, n, parts int) float64 {
	b.StopTimer()
	env := testenv.Kafka(b)
	kc := env.Config
	kc.ProductPartitions, kc.OrderPartitions = parts, parts
	names := kafka.TopicNames(kc.TopicPrefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	admin := env.Client(b)
	if _, err := kafka.Apply(ctx, admin, kafka.Spec(kc, kafka.SpecOptions{}), io.Discard); err != nil {
		b.Fatal(err)
	}
	loaded := preload(b, ctx, kc, names, n)
	b.Logf("%s: loaded %d commands (%d stock adjustments + %d reserves) in %d partitions", mode, loaded, benchProducts, n, parts)

	reg := prometheus.NewRegistry()
	p := inventory.NewProcessor(names)
	cfg := streams.DefaultConfig()
	cfg.InstanceID = "bench-0"
	if v, err := time.ParseDuration(os.Getenv("INVENTORY_BENCH_COMMIT_INTERVAL")); err == nil {
		cfg.CommitInterval = v
	}
	if v, err := strconv.Atoi(os.Getenv("INVENTORY_BENCH_THREADS")); err == nil {
		cfg.Threads = v
	}
	opts := []streams.Opt{streams.WithRegisterer(reg)}
	if v, err := time.ParseDuration(os.Getenv("INVENTORY_BENCH_LINGER")); err == nil {
		opts = append(opts, streams.WithKafkaOpts(kgo.ProducerLinger(v)))
	}
	if os.Getenv("INVENTORY_BENCH_COMPRESSION") == "none" {
		opts = append(opts, streams.WithKafkaOpts(kgo.ProducerBatchCompression(kgo.NoCompression())))
	}
	if mode == "at-least-once" {
		opts = append(opts, streams.AtLeastOnce())
	}
	proc, err := streams.New(p.Topology(), kc, cfg, opts...)
	if err != nil {
		b.Fatal(err)
	}
	counter := env.Client(b, kgo.ConsumeTopics(names.InventoryResults), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	cpu0, broker0 := selfCPU(), brokerCPU()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- proc.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	for proc.Tasks() < parts { // joined, assigned and restored: Kafka Streams' RUNNING
		time.Sleep(5 * time.Millisecond)
	}
	if path := os.Getenv("INVENTORY_BENCH_CPUPROFILE"); path != "" && mode == "eos" {
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
	b.StartTimer()
	start := time.Now()
	got := 0
	for got < n {
		got += pollCount(counter, time.Second)
		if time.Since(start) > 20*time.Minute {
			b.Fatalf("only %d of %d results after %s", got, n, time.Since(start))
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu, broker := selfCPU()-cpu0, brokerCPU()-broker0
	logCommits(b, reg)
	b.Logf("CPU per 1000 commands: this process (processor + result counter) %.1f ms, broker %.1f ms (INVENTORY_BENCH_BROKER_PID)",
		1000*cpu.Seconds()/float64(loaded)*1000, 1000*broker.Seconds()/float64(loaded)*1000)
	return float64(loaded) / elapsed.Seconds()
}

func pollCount(cl *kgo.Client, wait time.Duration) int {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return cl.PollFetches(ctx).NumRecords()
}

// preload writes benchProducts catalog entries, one stock adjustment per
// product and n reserve commands, and returns the number of commands.
func preload(b *testing.B, ctx context.Context, kc config.Kafka, names kafka.Names, n int) int {
	cl, err := kafka.NewProducer(kc, nil, kgo.ProducerLinger(20*time.Millisecond), kgo.MaxBufferedRecords(200_000),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var failed atomic.Value
	var wg sync.WaitGroup
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Store(err)
		}
		wg.Done()
	}
	send := func(r *kgo.Record) { wg.Add(1); cl.Produce(ctx, r, promise) }
	now := time.Now().UTC()
	for i := 0; i < benchProducts; i++ {
		id := "p" + strconv.Itoa(i)
		send(jsonRecord(b, names.CatalogProducts, id, schemas.Product{ProductID: id, Name: id, CategoryID: "c",
			Price: schemas.Money{Amount: int64(100 + i), Currency: "USD"}, Active: true, Version: 1, UpdatedAt: now}))
		stock := int64(1_000_000_000)
		send(jsonRecord(b, names.InventoryCommands, id, schemas.InventoryCommand{Type: schemas.CmdAdjust, ProductID: id,
			AdjustmentID: "initial", Absolute: &stock, IssuedAt: now}))
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		id := "p" + strconv.Itoa(rnd.IntN(benchProducts))
		send(jsonRecord(b, names.InventoryCommands, id, schemas.InventoryCommand{Type: schemas.CmdReserve, ProductID: id,
			OrderID: fmt.Sprintf("o%d", i/3), LineNo: i % 3, Quantity: 1 + rnd.IntN(5), Currency: "USD", IssuedAt: now}))
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return n + benchProducts
}

// logCommits logs the transactions: commits, aborts, mean commit latency.
func logCommits(b *testing.B, reg *prometheus.Registry) {
	mfs, err := reg.Gather()
	if err != nil {
		return
	}
	var commits, aborts, n float64
	var sum float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "orderpipe_streams_txn_commits_total":
				commits += m.GetCounter().GetValue()
			case "orderpipe_streams_txn_aborts_total":
				aborts += m.GetCounter().GetValue()
			case "orderpipe_streams_txn_commit_seconds":
				n += float64(m.GetHistogram().GetSampleCount())
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	if n > 0 {
		b.Logf("transactions: %.0f committed, %.0f aborted, mean commit %.1f ms", commits, aborts, 1000*sum/n)
	}
}

// selfCPU is this process's user + system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// brokerCPU is the user + system CPU time of the process
// INVENTORY_BENCH_BROKER_PID (the Kafka broker), from /proc; 0 if unset.
func brokerCPU() time.Duration {
	pid := os.Getenv("INVENTORY_BENCH_BROKER_PID")
	if pid == "" {
		return 0
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64) // utime, clock ticks (100 Hz)
	st, _ := strconv.ParseInt(fields[12], 10, 64) // stime
	return time.Duration(ut+st) * 10 * time.Millisecond
}
