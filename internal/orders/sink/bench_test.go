package sink_test

import (
	"context"
	"encoding/json"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/orders/sink"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// benchOrders is how many orders one sink transaction carries in the write
// benchmarks: ~8192 Kafka records (4 per order) at the default batch size.
const benchOrders = 2048

// stateRecord encodes o's state at version as the sink reads it.
func stateRecord(topic string, offset int64, o order, version int64, status string) sink.Record {
	b, _ := json.Marshal(o.state(version, status))
	return sink.Record{Topic: topic, Offset: offset, Key: []byte(o.id), Value: b, CEType: schemas.TypeOrderState}
}

func eventRecord(topic string, offset int64, o order, version int64, status string) sink.Record {
	ty, ev := o.event(version, status)
	b, _ := json.Marshal(ev)
	return sink.Record{Topic: topic, Offset: offset, Key: []byte(o.id), Value: b, CEType: ty, CEID: o.id + "/" + strconv.FormatInt(version, 10)}
}

// BenchmarkStoreWrite measures the sink's PostgreSQL side: decoded batches
// of orders with 3 lines each written by Store.Write (fencing check, orders
// + lines upsert, history insert, offsets, commit). One op = one order.
//   - collapsed: placement and confirmation in the same batch (the newest
//     state only: 1 order row + 3 lines + 2 history rows per order), the
//     common case when the sink keeps up.
//   - two-phase: placement and confirmation in different batches (each
//     order's row and lines written twice), the worst case.
func BenchmarkStoreWrite(b *testing.B) {
	for _, mode := range []string{"collapsed", "two-phase"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			f := newFixture(b, ctx, testenv.Postgres(b))
			store := sink.NewStore(f.pool, "bench")
			builder := sink.Builder{StateTopic: f.names.OrderState, EventsTopic: f.names.OrderEvents}
			next := [2]int64{-1, -1}
			write := func(records []sink.Record) {
				from := func(tp sink.TP) (int64, bool) {
					if tp.Topic == f.names.OrderState {
						return next[0], true
					}
					return next[1], true
				}
				batch := builder.Build(records, from)
				if _, err := store.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
				next[0] = batch.Spans[sink.TP{Topic: f.names.OrderState}].Last + 1
				next[1] = batch.Spans[sink.TP{Topic: f.names.OrderEvents}].Last + 1
			}
			// Records are built before the clock starts: the benchmark times
			// decoding and PostgreSQL, as the sink does them per poll.
			var chunks [][]sink.Record
			var offset int64
			for done := 0; done < b.N; done += benchOrders {
				n := min(benchOrders, b.N-done)
				placed, confirmed := make([]sink.Record, 0, 2*n), make([]sink.Record, 0, 2*n)
				for i := range n {
					o := order{id: schemas.OrderID(mode+b.Name(), strconv.Itoa(done+i)), n: done + i, outcome: schemas.StatusConfirmed}
					placed = append(placed, stateRecord(f.names.OrderState, offset+int64(i), o, 1, schemas.StatusPending),
						eventRecord(f.names.OrderEvents, offset+int64(i), o, 1, schemas.StatusPending))
					confirmed = append(confirmed, stateRecord(f.names.OrderState, offset+int64(n+i), o, 2, schemas.StatusConfirmed),
						eventRecord(f.names.OrderEvents, offset+int64(n+i), o, 2, schemas.StatusConfirmed))
				}
				offset += int64(2 * n)
				if mode == "collapsed" {
					chunks = append(chunks, append(placed, confirmed...))
				} else {
					chunks = append(chunks, placed, confirmed)
				}
			}
			b.ResetTimer()
			cpu0, pg0 := cpuTime(b), pgCPU(b, ctx, f)
			start := time.Now()
			for _, c := range chunks {
				write(c)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cpu, pg := cpuTime(b)-cpu0, pgCPU(b, ctx, f)-pg0
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
			b.ReportMetric(float64(b.N*6)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "sink-cpu-µs/order")
			b.ReportMetric(float64(pg.Microseconds())/float64(b.N), "pg-cpu-µs/order")
			var n int
			if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE status = 'CONFIRMED'`).Scan(&n); err != nil || n != b.N {
				b.Fatalf("%d confirmed rows, want %d (%v)", n, b.N, err)
			}
		})
	}
}

// BenchmarkSinkFromKafka measures the whole sink: b.N orders (3 lines)
// written by a transactional producer as the saga writes them (placed, then
// confirmed: 4 records per order on 12 partitions per topic) before the
// clock starts; then a sink starts from nothing and the clock runs until
// every order is CONFIRMED in PostgreSQL with its history (every record
// written). Run with -benchtime=Nx; BENCH_SINK_LANES sets the lanes.
func BenchmarkSinkFromKafka(b *testing.B) {
	ctx := context.Background()
	env := testenv.Kafka(b)
	env.Config.OrderPartitions = 12
	f := newFixtureOn(b, ctx, env, testenv.Postgres(b))
	s := f.saga(b, "bench-saga")
	all := make([]order, b.N)
	for i := range all {
		all[i] = order{id: schemas.OrderID(b.Name(), strconv.Itoa(i)), n: i, outcome: schemas.StatusConfirmed}
	}
	// 500 orders per transaction; confirmations trail placements by one
	// transaction, as a busy saga interleaves them.
	var prev []*kgo.Record
	for i := 0; i < len(all); i += 500 {
		var recs []*kgo.Record
		for _, o := range all[i:min(i+500, len(all))] {
			recs = append(recs, f.recordsFast(o, 1, schemas.StatusPending)...)
		}
		s.commit(ctx, append(recs, prev...), false)
		prev = prev[:0]
		for _, o := range all[i:min(i+500, len(all))] {
			prev = append(prev, f.recordsFast(o, 2, schemas.StatusConfirmed)...)
		}
	}
	s.commit(ctx, prev, false)

	b.ResetTimer()
	if path := os.Getenv("BENCH_SINK_CPUPROFILE"); path != "" { // profile the sink phase only
		out, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			b.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); _ = out.Close() }()
	}
	cpu0, pg0 := cpuTime(b), pgCPU(b, ctx, f)
	start := time.Now()
	lanes, _ := strconv.Atoi(os.Getenv("BENCH_SINK_LANES")) // default (0): the sink's default
	reg, stop := f.runSink(b, sink.Config{Kafka: f.kafka, Group: f.kafka.TopicPrefix + "bench-sink", Lanes: lanes}, f.pool)
	// Wait on the sink's own count of committed records (4 per order):
	// polling the tables would compete with the sink for PostgreSQL.
	for metric(b, reg, "orderpipe_order_sink_records_total") < float64(4*b.N) {
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("%v of %d records after 10 minutes", metric(b, reg, "orderpipe_order_sink_records_total"), 4*b.N)
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu, pg := cpuTime(b)-cpu0, pgCPU(b, ctx, f)-pg0
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "sink-cpu-µs/order")
	b.ReportMetric(float64(pg.Microseconds())/float64(b.N), "pg-cpu-µs/order")
	b.ReportMetric(metric(b, reg, "orderpipe_order_sink_records_total")/elapsed.Seconds(), "records/s")
	b.ReportMetric(metric(b, reg, "orderpipe_order_sink_batches_total"), "txns")
	b.ReportMetric(histSum(b, reg, "orderpipe_order_sink_poll_wait_seconds")/elapsed.Seconds(), "share-polling")
	b.ReportMetric(histSum(b, reg, "orderpipe_order_sink_poll_process_seconds")/elapsed.Seconds(), "share-writing")
	var n, h int
	if err := f.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM orders WHERE status = 'CONFIRMED'), (SELECT count(*) FROM order_status_history)`).Scan(&n, &h); err != nil || n != b.N || h != 2*b.N {
		b.Fatalf("%d confirmed orders, %d history rows; want %d, %d (%v)", n, h, b.N, 2*b.N, err)
	}
}

// cpuTime is the CPU time (user + system) of the benchmark process.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pgCPU is the CPU time of the whole PostgreSQL server: the postmaster,
// its live children, and the children it has reaped (cutime, cstime).
func pgCPU(b *testing.B, ctx context.Context, f *fixture) time.Duration {
	var backend int
	if err := f.pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		b.Fatal(err)
	}
	postmaster, _, _ := procStat(backend)
	_, total, children := procStat(postmaster)
	total += children
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if ppid, own, _ := procStat(pid); ppid == postmaster {
			total += own
		}
	}
	return total
}

// procStat reads a process's parent pid, own CPU and reaped children's CPU.
func procStat(pid int) (ppid int, own, children time.Duration) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 (state) on
	num := func(i int) int64 { n, _ := strconv.ParseInt(fields[i-3], 10, 64); return n }
	const tick = 10 * time.Millisecond // USER_HZ = 100
	return int(num(4)), time.Duration(num(14)+num(15)) * tick, time.Duration(num(16)+num(17)) * tick
}

// histSum is the sum of a histogram without labels (summed over labels).
func histSum(b *testing.B, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return sum
}
