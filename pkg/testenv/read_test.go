package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadAll runs the ReadAll checks on the test's Kafka (real under `make
// test`) and on kfake, the fallback without KAFKA_BROKERS.
func TestReadAll(t *testing.T) {
	t.Run("default", func(t *testing.T) { testReadAll(t, Kafka(t)) })
	t.Run("kfake", func(t *testing.T) {
		t.Setenv("KAFKA_BROKERS", "")
		t.Setenv("ORDERPIPE_REQUIRE_REAL", "")
		testReadAll(t, Kafka(t))
	})
}

func testReadAll(t *testing.T, env *KafkaEnv) {
	t.Logf("kafka kind %s", env.Kind)
	adm := kadm.NewClient(env.Client(t))
	create := func(t *testing.T, name string) string {
		t.Helper()
		topic := env.Config.TopicPrefix + name
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := adm.CreateTopic(ctx, 3, int16(env.Config.ReplicationFactor), nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
		return topic
	}
	rec := func(topic string, p int32, v string) *kgo.Record {
		return &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}
	}
	plain := func(t *testing.T) *kgo.Client {
		return env.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	txnal := func(t *testing.T) *kgo.Client {
		return env.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.TransactionalID(env.Config.TopicPrefix+t.Name()), kgo.TransactionTimeout(30*time.Second))
	}
	produce := func(t *testing.T, cl *kgo.Client, rs ...*kgo.Record) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	txn := func(t *testing.T, cl *kgo.Client, commit bool, rs ...*kgo.Record) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(t, cl, rs...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	values := func(rs []*kgo.Record) string {
		var vs []string
		for _, r := range rs {
			if r.Attrs.IsControl() {
				vs = append(vs, fmt.Sprintf("control@%d/%d", r.Partition, r.Offset))
				continue
			}
			vs = append(vs, fmt.Sprintf("%d:%s", r.Partition, r.Value))
		}
		return strings.Join(vs, " ")
	}

	t.Run("plain topic with an empty partition", func(t *testing.T) {
		topic := create(t, "plain")
		cl := plain(t)
		for i := range 50 {
			produce(t, cl, rec(topic, 0, fmt.Sprintf("a%02d", i)), rec(topic, 2, fmt.Sprintf("c%02d", i)))
		}
		got := env.ReadAll(t, topic)
		var want []string
		for i := range 50 {
			want = append(want, fmt.Sprintf("0:a%02d", i))
		}
		for i := range 50 {
			want = append(want, fmt.Sprintf("2:c%02d", i))
		}
		if values(got) != strings.Join(want, " ") {
			t.Fatalf("read %d records:\n%s\nwant:\n%s", len(got), values(got), strings.Join(want, " "))
		}
	})

	t.Run("transactions: aborted records and markers are not returned", func(t *testing.T) {
		topic := create(t, "txn")
		cl := txnal(t)
		txn(t, cl, true, rec(topic, 0, "c1"), rec(topic, 1, "c2"))
		txn(t, cl, false, rec(topic, 0, "aborted1"), rec(topic, 1, "aborted2"))
		txn(t, cl, true, rec(topic, 1, "c3"))
		// Partition 0 now ends with an abort marker, partition 1 with a
		// commit marker, partition 2 is empty.
		got := ReadAll(t, env.Config, topic)
		if v := values(got); v != "0:c1 1:c2 1:c3" {
			t.Fatalf("read %q, want %q", v, "0:c1 1:c2 1:c3")
		}
	})

	t.Run("a transaction open at the start is waited for", func(t *testing.T) {
		topic := create(t, "open")
		cl := txnal(t)
		txn(t, cl, true, rec(topic, 0, "before"))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(t, cl, rec(topic, 0, "open"), rec(topic, 2, "open"))
		// The open transaction's records are below the end: ReadAll cannot
		// finish before the transaction does.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := readAll(ctx, env.Brokers, topic)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "partitions not read to their end: 0 (end 3), 2 (end 1)") {
			t.Fatalf("read with a transaction open: err = %v, want a timeout naming partitions 0 and 2", err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		type result struct {
			rs  []*kgo.Record
			err error
		}
		done := make(chan result, 1)
		go func() {
			rs, err := readAll(ctx, env.Brokers, topic)
			done <- result{rs, err}
		}()
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		res := <-done
		if res.err != nil {
			t.Fatal(res.err)
		}
		if v := values(res.rs); v != "0:before 0:open 2:open" {
			t.Fatalf("read %q, want %q", v, "0:before 0:open 2:open")
		}
	})

	t.Run("all partitions empty returns at once", func(t *testing.T) {
		topic := create(t, "empty")
		if got := ReadAllWithin(t, env.Config, topic, 10*time.Second); len(got) != 0 {
			t.Fatalf("read %s from an empty topic", values(got))
		}
	})

	t.Run("only aborted records", func(t *testing.T) {
		topic := create(t, "aborted")
		txn(t, txnal(t), false, rec(topic, 1, "x"), rec(topic, 1, "y"))
		if got := ReadAllWithin(t, env.Config, topic, 30*time.Second); len(got) != 0 {
			t.Fatalf("read %s, want nothing", values(got))
		}
	})

	t.Run("WaitCommitted waits for the group to reach the end", func(t *testing.T) {
		topic := create(t, "committed")
		cl := plain(t)
		for i := range 4 {
			produce(t, cl, rec(topic, 0, fmt.Sprint(i)), rec(topic, 1, fmt.Sprint(i)))
		}
		group := env.Config.TopicPrefix + "group"
		commit := func(p int32, at int64) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var o kadm.Offsets
			o.AddOffset(topic, p, at, -1)
			resp, err := adm.CommitOffsets(ctx, group, o)
			if err == nil {
				err = resp.Error()
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		commit(0, 4)
		commit(1, 3)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := waitCommitted(ctx, env.Brokers, group, topic)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "partitions not committed to their end: 1 (end 4); 1 at 3") {
			t.Fatalf("partition 1 one behind: err = %v, want a timeout naming partition 1", err)
		}
		commit(1, 4)
		env.WaitCommitted(t, group, topic, 30*time.Second)
	})

	t.Run("missing topic is an error", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := readAll(ctx, env.Brokers, env.Config.TopicPrefix+"missing")
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("err = %v, want topic does not exist", err)
		}
	})
}
