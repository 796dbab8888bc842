package streams_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/streams"
)

// ledger is a test topology: "add" records add their value to a balance
// (a store), emit the new balance, and publish the latest balance per key.
type ledger struct {
	bal  *streams.StoreDef[int64]
	topo *streams.Topology
}

func newLedger() *ledger {
	l := &ledger{bal: streams.NewStore("balance", streams.JSON[int64](1))}
	l.topo = streams.NewTopology("ledger", kafka.ByProduct).Input("add", l.add).Store(l.bal)
	return l
}

func (l *ledger) add(t *streams.Task, r *kgo.Record) error {
	n, err := strconv.ParseInt(string(r.Value), 10, 64)
	if err != nil {
		return streams.Poison(streams.ReasonDecode, err)
	}
	key := string(r.Key)
	var total int64
	if err := l.bal.Of(t).Update(key, func(v *int64, _ bool) error { *v += n; total = *v; return nil }); err != nil {
		return err
	}
	t.Emit(&kgo.Record{Topic: "balances", Key: r.Key, Value: []byte(strconv.FormatInt(total, 10))})
	t.EmitLatest("latest", key, func() (*kgo.Record, error) {
		return &kgo.Record{Topic: "latest", Key: []byte(key), Value: []byte(strconv.FormatInt(total, 10))}, nil
	})
	if total < 0 {
		return errors.New("balance would go negative") // after the writes: they must be undone
	}
	if n == 13 {
		panic("unlucky")
	}
	return nil
}

func send(t *testing.T, d *streams.TestDriver, key, value string) {
	t.Helper()
	if err := d.Send(&kgo.Record{Topic: "add", Key: []byte(key), Value: []byte(value)}); err != nil {
		t.Fatal(err)
	}
}

func balance(t *testing.T, d *streams.TestDriver, l *ledger, key string) int64 {
	t.Helper()
	v, _, err := l.bal.Of(d.TaskFor([]byte(key))).Get(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func values(rs []*kgo.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Key) + "=" + string(r.Value)
	}
	return out
}

func TestAbortDropsStateAndOutputs(t *testing.T) {
	l := newLedger()
	d, err := streams.NewTestDriver(l.topo, 3)
	if err != nil {
		t.Fatal(err)
	}
	send(t, d, "a", "5")
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	send(t, d, "a", "7")
	if got := balance(t, d, l, "a"); got != 12 {
		t.Fatalf("inside the transaction the handler's own write is visible: got %d, want 12", got)
	}
	d.Abort()
	if got := balance(t, d, l, "a"); got != 5 {
		t.Fatalf("after abort balance = %d, want 5 (the aborted +7 must be gone)", got)
	}
	send(t, d, "a", "1")
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := values(d.Outputs("balances")); len(got) != 2 || got[0] != "a=5" || got[1] != "a=6" {
		t.Fatalf("outputs %v, want [a=5 a=6]: nothing of the aborted transaction", got)
	}
}

func TestFailedRecordIsUndoneAndDeadLettered(t *testing.T) {
	l := newLedger()
	d, err := streams.NewTestDriver(l.topo, 1)
	if err != nil {
		t.Fatal(err)
	}
	send(t, d, "a", "3")
	send(t, d, "a", "-10")  // handler error after its writes
	send(t, d, "a", "oops") // poison
	send(t, d, "a", "13")   // panic after its writes
	send(t, d, "a", "4")
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, d, l, "a"); got != 7 {
		t.Fatalf("balance = %d, want 7: failed records leave no trace", got)
	}
	if got := values(d.Outputs("balances")); len(got) != 2 || got[0] != "a=3" || got[1] != "a=7" {
		t.Fatalf("outputs %v, want [a=3 a=7]", got)
	}
	if got := values(d.Outputs("latest")); len(got) != 1 || got[0] != "a=7" {
		t.Fatalf("latest %v, want only the last value [a=7]", got)
	}
	dlq := d.Outputs(kafka.DLQ("add"))
	wantReasons := []string{streams.ReasonHandler, streams.ReasonDecode, streams.ReasonPanic}
	if len(dlq) != len(wantReasons) {
		t.Fatalf("DLQ has %d records, want %d", len(dlq), len(wantReasons))
	}
	for i, r := range dlq {
		if got := kafka.Header(r, streams.HeaderDLQReason); got != wantReasons[i] {
			t.Errorf("DLQ[%d] reason %q, want %q", i, got, wantReasons[i])
		}
		if kafka.Header(r, streams.HeaderDLQOffset) != strconv.Itoa(i+1) || kafka.Header(r, streams.HeaderDLQTopic) != "add" {
			t.Errorf("DLQ[%d] origin headers: %v", i, r.Headers)
		}
		if kafka.Header(r, streams.HeaderDLQError) == "" {
			t.Errorf("DLQ[%d] has no error text", i)
		}
	}
	// Restored from the changelog, the balance is the same.
	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, d, l, "a"); got != 7 {
		t.Fatalf("after restore balance = %d, want 7", got)
	}
}

func TestChangelogCoalescesPerTransaction(t *testing.T) {
	l := newLedger()
	d, err := streams.NewTestDriver(l.topo, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		send(t, d, "hot", "1")
	}
	send(t, d, "cold", "1")
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := len(d.Changelog("balance")); n != 2 {
		t.Fatalf("%d changelog records for 2 changed keys in one transaction, want 2", n)
	}
	if n := len(d.Outputs("balances")); n != 101 {
		t.Fatalf("%d outputs, want 101", n)
	}
	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, d, l, "hot"); got != 100 {
		t.Fatalf("restored hot = %d, want 100", got)
	}
}

type twoFields struct {
	A int `json:"a"`
	B int `json:"b"`
}

// TestStoreValueVersions writes with codec version 1, then restores with a
// release whose codec is version 2 (reads 1 and 2), then with version 3
// (reads 2 and 3): the last must refuse the version-1 records.
func TestStoreValueVersions(t *testing.T) {
	run := func(version uint8) (*streams.StoreDef[twoFields], *streams.TestDriver) {
		def := streams.NewStore("s", streams.JSON[twoFields](version))
		topo := streams.NewTopology("versions", kafka.ByProduct).Input("in", func(t *streams.Task, r *kgo.Record) error {
			def.Of(t).Put(string(r.Key), twoFields{A: 1, B: int(version)})
			return nil
		}).Store(def)
		d, err := streams.NewTestDriver(topo, 1)
		if err != nil {
			t.Fatal(err)
		}
		return def, d
	}
	_, d1 := run(1)
	if err := d1.Send(&kgo.Record{Topic: "in", Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if err := d1.Commit(); err != nil {
		t.Fatal(err)
	}
	records := d1.Changelog("s")
	if len(records) != 1 || records[0].Value[0] != 1 {
		t.Fatalf("changelog value should start with its version byte 1: %v", records)
	}
	for _, tc := range []struct {
		version uint8
		ok      bool
	}{{1, true}, {2, true}, {3, false}} {
		def := streams.NewStore("s", streams.JSON[twoFields](tc.version))
		view, err := restoreInto(def, records)
		if (err == nil) != tc.ok {
			t.Fatalf("codec version %d restoring version-1 values: err = %v, want ok=%v", tc.version, err, tc.ok)
		}
		if tc.ok {
			if v, ok, _ := view.Get("k"); !ok || v.A != 1 || v.B != 1 {
				t.Fatalf("codec version %d read %+v", tc.version, v)
			}
		} else if !errors.Is(err, streams.ErrUnknownVersion) {
			t.Fatalf("want ErrUnknownVersion, got %v", err)
		}
	}
}

// restoreInto restores records into a fresh task of a one-store topology.
func restoreInto(def *streams.StoreDef[twoFields], records []*kgo.Record) (*streams.StoreView[twoFields], error) {
	topo := streams.NewTopology("versions", kafka.ByProduct).Input("in", func(*streams.Task, *kgo.Record) error { return nil }).Store(def)
	d, err := streams.NewTestDriver(topo, 1)
	if err != nil {
		return nil, err
	}
	if err := d.Replay("s", records); err != nil {
		return nil, err
	}
	return def.Of(d.Task(0)), nil
}
