package streams_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/lag"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/streams"
)

// TestExactCountsThroughRebalances feeds a counting processor (not
// idempotent: every record adds one) while three instances join one after
// another and one leaves, so eager rebalances revoke partitions in the
// middle of transactions, four times. Every key's outputs must then be exactly 1, 2, …,
// N in order: an aborted transaction whose in-memory changes leaked, or a
// record processed twice or never, would skip or repeat a number.
func TestExactCountsThroughRebalances(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	in, out := env.Config.TopicPrefix+"in", env.Config.TopicPrefix+"out"
	createTopics(t, env, 3, false, in, out)
	const keys, total = 30, 12000

	newProc := func(instance string) *running {
		c := newCounter(out)
		topo := streams.NewTopology("counter", kafka.ByProduct).Input(in, c.handle).Store(c.store)
		cfg := testConfig(instance)
		// Long transactions: franz-go notices most rebalances in the
		// heartbeat it forces when a transaction ends, i.e. between
		// transactions. With commits every 3s the periodic heartbeat
		// notices them, in the middle of transactions full of records.
		cfg.CommitInterval = 3 * time.Second
		cfg.CommitRecords = 1 << 30
		return start(t, topo, env.Config, cfg)
	}
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		cl := env.Client(t, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
		for i := 0; i < total; i += 50 { // a steady stream: a transaction is nearly always open
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := cl.ProduceSync(ctx, keyedFrom(in, i, 50, keys)...).FirstErr(); err != nil {
				t.Error(err)
			}
			cancel()
			time.Sleep(25 * time.Millisecond)
		}
	}()
	newProc("a")
	var b *running
	for _, name := range []string{"b", "c", "d", "e"} { // every join is an eager rebalance
		time.Sleep(1200 * time.Millisecond)
		if r := newProc(name); name == "b" {
			b = r
		}
	}
	time.Sleep(500 * time.Millisecond)
	b.stop(t) // a static member: its partitions move when its session times out
	<-fed

	got := readOutputs(t, env, "counter", in, out, 90*time.Second)
	seq := map[string][]int{}
	for _, r := range got {
		k, v, _ := strings.Cut(string(r.Value), "=")
		n, _ := strconv.Atoi(v)
		seq[k] = append(seq[k], n)
	}
	if len(got) != total {
		t.Errorf("%d outputs for %d inputs", len(got), total)
	}
	for k, ns := range seq {
		for i, n := range ns {
			if n != i+1 {
				t.Fatalf("%s: output #%d is %d, want %d (sequence %v…)", k, i+1, n, i+1, ns[:min(len(ns), i+3)])
			}
		}
	}
}

func keyedFrom(topic string, from, n, keys int) []*kgo.Record {
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", (from+i)%keys)), Value: []byte(strconv.Itoa(from + i))}
	}
	return rs
}

// TestLagReadsZeroWhenCaughtUp has a transactional producer write the input
// (so every partition ends with a commit marker) and checks that, once the
// processor has caught up, its lag reads 0 records on every partition — in
// its gauges and in the group's committed offsets — where high-watermark
// arithmetic on the last data record would read 1.
func TestLagReadsZeroWhenCaughtUp(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	in, out := env.Config.TopicPrefix+"in", env.Config.TopicPrefix+"out"
	createTopics(t, env, 3, false, in, out)
	txp := env.Client(t, kgo.TransactionalID(in+"-upstream"), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for i := 0; i < 5; i++ {
		if err := txp.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txp.ProduceSync(ctx, keyedFrom(in, i*60, 60, 12)...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txp.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	c := newCounter(out)
	topo := streams.NewTopology("lag", kafka.ByProduct).Input(in, c.handle).Store(c.store)
	r := start(t, topo, env.Config, testConfig("a"), streams.WithRegisterer(reg), streams.WithLagInterval(200*time.Millisecond))
	readOutputs(t, env, "lag", in, out, 60*time.Second)

	adm := kadm.NewClient(env.Client(t))
	hw, err := adm.ListEndOffsets(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "lag 0 on every partition", func() error {
		for p := int32(0); p < 3; p++ {
			behind, ok := r.p.Lag(in, p)
			if !ok || behind != 0 {
				return fmt.Errorf("partition %d: lag %d (known %v)", p, behind, ok)
			}
		}
		return gaugesAreZero(reg)
	})
	// The group's committed offsets sit past the markers too, so kadm's lag
	// (what `orderpipe lag` and dashboards compute from offsets) agrees.
	testenv.Eventually(t, 10*time.Second, "committed offsets at the end", func() error {
		committed, err := adm.FetchOffsets(ctx, r.p.GroupID())
		if err != nil {
			return err
		}
		var bad []string
		hw.Each(func(o kadm.ListedOffset) {
			c, ok := committed.Lookup(in, o.Partition)
			if !ok || c.At != o.Offset {
				bad = append(bad, fmt.Sprintf("p%d committed %d end %d", o.Partition, c.At, o.Offset))
			}
		})
		if len(bad) > 0 {
			return fmt.Errorf("%v", bad)
		}
		return nil
	})
	// And the end really is a marker: the last data record is at end-2.
	last := map[int32]int64{}
	for _, rec := range env.ReadAll(t, in) {
		last[rec.Partition] = max(last[rec.Partition], rec.Offset)
	}
	hw.Each(func(o kadm.ListedOffset) {
		if o.Offset-(last[o.Partition]+1) != 1 {
			t.Errorf("partition %d: end %d, last data record %d: expected one commit marker after it", o.Partition, o.Offset, last[o.Partition])
		}
	})
}

func gaugesAreZero(reg *prometheus.Registry) error {
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	seen := 0
	for _, mf := range mfs {
		if mf.GetName() != lag.RecordsMetric && mf.GetName() != lag.SecondsMetric {
			continue
		}
		for _, m := range mf.GetMetric() {
			seen++
			if v := m.GetGauge().GetValue(); v != 0 {
				return fmt.Errorf("%s %v = %v", mf.GetName(), m.GetLabel(), v)
			}
		}
	}
	if seen != 6 {
		return fmt.Errorf("%d lag series, want 6 (3 partitions × records, seconds)", seen)
	}
	return nil
}

type price struct {
	Cents int `json:"cents"`
}

// TestTableIsReadBeforeInputs writes a table and inputs before the
// processor starts: every input must see the table's latest value (the
// table is read to its end first), and a later table update must reach
// later inputs.
func TestTableIsReadBeforeInputs(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	in, prices, out := env.Config.TopicPrefix+"in", env.Config.TopicPrefix+"prices", env.Config.TopicPrefix+"out"
	createTopics(t, env, 3, false, in, out)
	createTopics(t, env, 3, true, prices)
	var rs []*kgo.Record
	for i := 0; i < 30; i++ { // several versions per key; the last wins
		rs = append(rs, &kgo.Record{Topic: prices, Key: []byte(fmt.Sprintf("k%d", i%10)), Value: []byte(fmt.Sprintf(`{"cents":%d}`, 100+i))})
	}
	produceSync(t, env, rs...)
	produceSync(t, env, keyed(in, 10, 10)...)

	table := streams.NewTable(prices, func(_, v []byte) (price, error) {
		var p price
		err := jsonUnmarshal(v, &p)
		return p, err
	})
	var mu sync.Mutex
	topo := streams.NewTopology("pricer", kafka.ByProduct).Table(table).Input(in, func(t *streams.Task, r *kgo.Record) error {
		p, ok, err := table.Of(t).Get(string(r.Key))
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		t.Emit(&kgo.Record{Topic: out, Key: r.Key, Value: []byte(fmt.Sprintf("%v:%d", ok, p.Cents))})
		return nil
	})
	start(t, topo, env.Config, testConfig("a"))
	got := readOutputs(t, env, "pricer", in, out, 60*time.Second)
	for _, r := range got {
		i, _ := strconv.Atoi(strings.TrimPrefix(string(r.Key), "k"))
		if want := fmt.Sprintf("true:%d", 120+i); string(r.Value) != want {
			t.Errorf("%s saw %s, want %s (the table's latest)", r.Key, r.Value, want)
		}
	}
	produceSync(t, env, &kgo.Record{Topic: prices, Key: []byte("k3"), Value: []byte(`{"cents":999}`)})
	time.Sleep(500 * time.Millisecond)
	produceSync(t, env, &kgo.Record{Topic: in, Key: []byte("k3"), Value: []byte("x")})
	got = readOutputs(t, env, "pricer", in, out, 30*time.Second)
	if len(got) != 11 || string(got[len(got)-1].Value) != "true:999" && !hasValue(got, "true:999") {
		t.Errorf("after the update: %d outputs, want the new price 999 on the last", len(got))
	}
}

func hasValue(rs []*kgo.Record, v string) bool {
	for _, r := range rs {
		if string(r.Value) == v {
			return true
		}
	}
	return false
}

// TestRestoreReadsCommittedChangelogOnly writes a store's changelog by hand
// — committed values (one in the previous value version), a committed
// tombstone, and an aborted transaction — then starts the processor: its
// store must hold exactly the committed state.
func TestRestoreReadsCommittedChangelogOnly(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	in, out := env.Config.TopicPrefix+"in", env.Config.TopicPrefix+"out"
	createTopics(t, env, 3, false, in, out)
	changelog := kafka.Changelog(env.Config.TopicPrefix, "restorer", "kv")
	createTopics(t, env, 3, true, changelog)

	// The changelog's partition must be the key's task: use the input's partitioner.
	part := func(k string) int32 { return kafka.PartitionFor([]byte(k), 3) }
	rec := func(k string, version byte, v string) *kgo.Record {
		r := &kgo.Record{Topic: changelog, Partition: part(k), Key: []byte(k)}
		if v != "" {
			r.Value = append([]byte{version}, v...)
		}
		return r
	}
	txp := env.Client(t, kgo.TransactionalID(changelog+"-writer"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	txn := func(commit kgo.TransactionEndTry, rs ...*kgo.Record) {
		if err := txp.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txp.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txp.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	txn(kgo.TryCommit, rec("a", 1, `"a-v1"`), rec("b", 2, `"b-v2"`), rec("c", 2, `"c-v2"`))
	txn(kgo.TryAbort, rec("a", 2, `"a-aborted"`), rec("d", 2, `"d-aborted"`))
	txn(kgo.TryCommit, rec("c", 0, ""))

	kv := streams.NewStore("kv", streams.JSON[string](2))
	topo := streams.NewTopology("restorer", kafka.ByProduct).Store(kv).Input(in, func(t *streams.Task, r *kgo.Record) error {
		v, ok, err := kv.Of(t).Get(string(r.Key))
		if err != nil {
			return err
		}
		t.Emit(&kgo.Record{Topic: out, Key: r.Key, Value: []byte(fmt.Sprintf("%v:%s", ok, v))})
		return nil
	})
	start(t, topo, env.Config, testConfig("a"))
	var probes []*kgo.Record
	for _, k := range []string{"a", "b", "c", "d"} {
		probes = append(probes, &kgo.Record{Topic: in, Key: []byte(k)})
	}
	produceSync(t, env, probes...)
	want := map[string]string{"a": "true:a-v1", "b": "true:b-v2", "c": "false:", "d": "false:"}
	got := readOutputs(t, env, "restorer", in, out, 60*time.Second)
	if len(got) != 4 {
		t.Fatalf("%d outputs, want 4", len(got))
	}
	for _, r := range got {
		if string(r.Value) != want[string(r.Key)] {
			t.Errorf("%s restored as %s, want %s", r.Key, r.Value, want[string(r.Key)])
		}
	}
}

// TestPunctuationCommits has a processor with no input traffic whose
// punctuator emits a tick per task: punctuation-only transactions commit.
func TestPunctuationCommits(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	in, out := env.Config.TopicPrefix+"in", env.Config.TopicPrefix+"out"
	createTopics(t, env, 3, false, in, out)
	ticks := streams.NewStore("ticks", streams.JSON[int](1))
	topo := streams.NewTopology("ticker", kafka.ByProduct).Store(ticks).
		Input(in, func(*streams.Task, *kgo.Record) error { return nil }).
		Every(200*time.Millisecond, func(t *streams.Task, _ time.Time) error {
			key := "task-" + strconv.Itoa(int(t.Partition()))
			var n int
			if err := ticks.Of(t).Update(key, func(v *int, _ bool) error { *v++; n = *v; return nil }); err != nil {
				return err
			}
			if n <= 3 {
				t.Emit(&kgo.Record{Topic: out, Key: []byte(key), Value: []byte(strconv.Itoa(n))})
			}
			return nil
		})
	start(t, topo, env.Config, testConfig("a"))
	got := readAtLeast(t, env, out, 9, 60*time.Second)
	if len(got) != 9 {
		t.Fatalf("%d ticks, want 3 per task", len(got))
	}
}
