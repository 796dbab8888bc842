package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// TestReadCommittedHidesAbortedRecords proves the stack is fit for
// exactly-once: records of an aborted transaction never reach a
// read_committed consumer, records of a committed one do.
func TestReadCommittedHidesAbortedRecords(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	topic := env.Config.TopicPrefix + "txn"
	adm := kadm.NewClient(env.Client(t))
	if _, err := adm.CreateTopic(ctx, 1, int16(env.Config.ReplicationFactor), nil, topic); err != nil {
		t.Fatal(err)
	}

	producer, err := kafka.NewProducer(env.Config, nil,
		kgo.TransactionalID(topic+"-txn"), kgo.TransactionTimeout(10*time.Second), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()

	txn := func(value string, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := producer.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte(value)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := producer.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	txn("aborted-1", kgo.TryAbort)
	txn("committed-1", kgo.TryCommit)
	txn("aborted-2", kgo.TryAbort)
	txn("committed-2", kgo.TryCommit)

	read := func(level kgo.IsolationLevel) []string {
		cl := env.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(level))
		var got []string
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			fs := cl.PollFetches(pctx)
			pcancel()
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			if level == kgo.ReadCommitted() && len(got) >= 2 || level == kgo.ReadUncommitted() && len(got) >= 4 {
				// Poll once more to catch anything that should not be there.
				pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
				cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
				pcancel()
				break
			}
		}
		return got
	}
	committed := read(kgo.ReadCommitted())
	if len(committed) != 2 || committed[0] != "committed-1" || committed[1] != "committed-2" {
		t.Fatalf("read_committed saw %q, want exactly [committed-1 committed-2]", committed)
	}
	// read_uncommitted sees all four: the aborted records really were written,
	// so the test above would notice if read_committed stopped filtering.
	if all := read(kgo.ReadUncommitted()); len(all) != 4 {
		t.Fatalf("read_uncommitted saw %q, want all 4 records", all)
	}
}
