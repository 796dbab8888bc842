package lag_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/cli"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/lag"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// TestSnapshotOnRealKafka: a group behind by N shows N (plain and
// transactional topics, the oldest waiting record's age as seconds); a
// read_committed consumer that caught up on a transactional topic shows 0
// although the commit marker leaves end − committed = 1; a range holding
// only an aborted transaction is 0 too; `orderpipe lag --json` and the
// table print the same figures.
func TestSnapshotOnRealKafka(t *testing.T) {
	env := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kc := env.Config
	plain, txn := kc.TopicPrefix+"lag.plain", kc.TopicPrefix+"lag.txn"
	gPlain, gTxn := kc.TopicPrefix+"g.plain", kc.TopicPrefix+"g.txn"

	cl, err := kafka.NewClient(kc, nil, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 1, int16(kc.ReplicationFactor), nil, plain, txn); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: plain, Partition: 0, Value: []byte(strconv.Itoa(i)), Timestamp: old.Add(time.Duration(i) * time.Second)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Five records in a committed transaction: offsets 0..4, marker at 5.
	tx, err := kafka.NewClient(kc, nil, kgo.TransactionalID(kc.TopicPrefix+"lag-tx"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	writeTxn := func(n int, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			tx.Produce(ctx, &kgo.Record{Topic: txn, Partition: 0, Value: []byte(strconv.Itoa(i)), Timestamp: old}, nil)
		}
		if err := tx.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := tx.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	// EndTxn returns before the coordinator has written the markers: wait
	// for the last stable offset to pass them.
	waitEnd := func(want int64) {
		t.Helper()
		for ctx.Err() == nil {
			ends, err := adm.ListCommittedOffsets(ctx, txn)
			if err != nil {
				t.Fatal(err)
			}
			if o, ok := ends.Lookup(txn, 0); ok && o.Offset >= want {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("last stable offset never reached %d", want)
	}
	writeTxn(5, kgo.TryCommit)
	waitEnd(6)

	commit := func(group, topic string, at int64) {
		t.Helper()
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: at, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, group, os); err != nil {
			t.Fatal(err)
		}
	}
	commit(gPlain, plain, 4)
	commit(gTxn, txn, 2)

	probe := func(opts ...kgo.Opt) (*kgo.Client, error) { return kafka.NewClient(kc, nil, opts...) }
	snap := func() map[string]lag.Partition {
		t.Helper()
		ps, err := lag.Snapshot(ctx, adm, probe, []string{gPlain, gTxn}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]lag.Partition{}
		for _, p := range ps {
			m[p.Group] = p
		}
		return m
	}
	got := snap()
	if p := got[gPlain]; p.Committed != 4 || p.End != 10 || p.Records != 6 || p.Seconds < 55 || p.Seconds > 120 {
		t.Fatalf("plain topic, behind by 6: %+v", p)
	}
	if p := got[gTxn]; p.Committed != 2 || p.End != 6 || p.Records != 3 || p.Seconds < 55 {
		t.Fatalf("transactional topic, behind by 3 data records (+ marker): %+v", p)
	}

	// A read_committed consumer of the group catches up and commits.
	cons, err := kafka.NewClient(kc, nil, kgo.ConsumerGroup(gTxn), kgo.ConsumeTopics(txn),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 3; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cons.Close()
	got = snap()
	if p := got[gTxn]; p.Committed != 5 || p.End != 6 || p.Records != 0 || p.Seconds != 0 {
		t.Fatalf("caught-up read_committed consumer of a transactional topic: %+v, want lag 0 (end − committed is 1: the marker)", p)
	}

	// An aborted transaction after it: the range holds nothing to read.
	writeTxn(3, kgo.TryAbort)
	waitEnd(10)
	got = snap()
	if p := got[gTxn]; p.End != 10 || p.Records != 0 {
		t.Fatalf("only an aborted transaction waiting: %+v, want lag 0", p)
	}

	// The CLI prints the same figures.
	var out bytes.Buffer
	if err := cli.Lag(ctx, kc, cli.LagOptions{Groups: []string{gPlain, gTxn}, JSON: true}, &out); err != nil {
		t.Fatal(err)
	}
	var ps []lag.Partition
	if err := json.Unmarshal(out.Bytes(), &ps); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(ps) != 2 || ps[0].Group != gPlain || ps[0].Records != 6 || ps[1].Records != 0 {
		t.Fatalf("orderpipe lag --json: %s", out.String())
	}
	out.Reset()
	if err := cli.Lag(ctx, kc, cli.LagOptions{Groups: []string{gPlain}}, &out); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	for _, want := range []string{"COMMITTED", "LAG SECONDS", gPlain, plain, "TOTAL"} {
		if !strings.Contains(table, want) {
			t.Fatalf("table lacks %q:\n%s", want, table)
		}
	}
	if !strings.Contains(strings.Fields(strings.Split(table, "\n")[1])[5], "6") {
		t.Fatalf("table row: %s", table)
	}

	// --serve exports the same figures as the lag gauges.
	pr, pw := io.Pipe()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- cli.Lag(sctx, kc, cli.LagOptions{Groups: []string{gPlain, gTxn}, Serve: "127.0.0.1:0", Interval: time.Hour}, pw)
		_ = pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	url := strings.TrimSpace(line[strings.Index(line, "http://"):])
	var body string
	for range 100 { // the first refresh runs right after the listener starts
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if body = string(b); strings.Contains(body, lag.SecondsMetric) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		lag.RecordsMetric + `{group="` + gPlain + `",partition="0",topic="` + plain + `"} 6`,
		lag.RecordsMetric + `{group="` + gTxn + `",partition="0",topic="` + txn + `"} 0`,
		"orderpipe_lag_exporter_up 1",
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("--serve lacks %s:\n%s", want, body)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestGauges: the exported families and Observe's marker handling.
func TestGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := lag.New(reg, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := lag.New(reg, "b") // same families, reused
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	txnRec := &kgo.Record{Offset: 9, Timestamp: now.Add(-10 * time.Second), Attrs: kgo.RecordAttrs{}}
	// A transactional batch ending at 9 with its marker at 10: caught up.
	a.Observe(kgo.FetchTopicPartition{Topic: "t", FetchPartition: kgo.FetchPartition{Partition: 0, LastStableOffset: 11, Records: []*kgo.Record{withTxn(txnRec)}}}, now)
	// A plain record at 9 and the end at 11: one waiting.
	b.Observe(kgo.FetchTopicPartition{Topic: "t", FetchPartition: kgo.FetchPartition{Partition: 0, LastStableOffset: 11, Records: []*kgo.Record{{Offset: 9, Timestamp: now.Add(-10 * time.Second)}}}}, now)
	if v := value(t, reg, lag.RecordsMetric, "a"); v != 0 {
		t.Fatalf("caught up after a transactional batch: records lag %v, want 0", v)
	}
	if v := value(t, reg, lag.RecordsMetric, "b"); v != 1 {
		t.Fatalf("plain record, end 2 past it: records lag %v, want 1", v)
	}
	if v := value(t, reg, lag.SecondsMetric, "b"); v < 9 || v > 60 {
		t.Fatalf("seconds = %v", v)
	}
	a.Forget("t", 0)
	if v := value(t, reg, lag.RecordsMetric, "a"); v != -1 {
		t.Fatalf("after Forget: %v", v)
	}
}

// value is the family's value for group, -1 when absent.
func value(t *testing.T, reg *prometheus.Registry, name, group string) float64 {
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
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" && l.GetValue() == group {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

func withTxn(r *kgo.Record) *kgo.Record {
	r.Attrs = kgo.NewRecordAttrs(kgo.RecordAttrsOpts{Transactional: true})
	return r
}
