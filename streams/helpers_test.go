package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/streams"
)

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("STREAMS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func createTopics(t testing.TB, env *testenv.KafkaEnv, partitions int, compact bool, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(env.Client(t))
	var cfgs map[string]*string
	if compact {
		c := "compact"
		cfgs = map[string]*string{"cleanup.policy": &c}
	}
	for _, n := range names {
		resp, err := adm.CreateTopic(ctx, int32(partitions), int16(env.Config.ReplicationFactor), cfgs, n)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", n, err)
		}
	}
}

func testConfig(instance string) streams.Config {
	c := streams.DefaultConfig()
	c.InstanceID = instance
	c.CommitInterval = 50 * time.Millisecond
	c.SessionTimeout = 6 * time.Second
	c.TransactionTimeout = 10 * time.Second
	return c
}

// running is a processor run in the background of a test.
type running struct {
	p      *streams.Processor
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, topo *streams.Topology, kc config.Kafka, cfg streams.Config, opts ...streams.Opt) *running {
	t.Helper()
	p, err := streams.New(topo, kc, cfg, append([]streams.Opt{streams.WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("Run did not return after cancel")
	}
}

// produceSync writes records with an idempotent producer.
func produceSync(t testing.TB, env *testenv.KafkaEnv, rs ...*kgo.Record) {
	t.Helper()
	cl := env.Client(t, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// readOutputs returns every output of a processor once it has processed
// all of its input: it waits until the topology's group (group, without the
// topic prefix) has committed in up to the end offsets in has now, then
// reads out to its end, read_committed. The outputs of a transaction commit
// with its input offsets, so nothing can still be on its way — duplicates
// included — and a missing output is missing, not late.
func readOutputs(t testing.TB, env *testenv.KafkaEnv, group, in, out string, timeout time.Duration) []*kgo.Record {
	t.Helper()
	env.WaitCommitted(t, env.Config.TopicPrefix+group, in, timeout)
	return env.ReadAll(t, out)
}

// readAtLeast reads topic read_committed, from the start, until it holds at
// least want records (for outputs no input offset accounts for, such as
// punctuations), failing t if timeout passes first.
func readAtLeast(t testing.TB, env *testenv.KafkaEnv, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	var got []*kgo.Record
	testenv.Eventually(t, timeout, topic+" records", func() error {
		got = env.ReadAll(t, topic)
		if len(got) < want {
			return fmt.Errorf("%s: %d records, want at least %d", topic, len(got), want)
		}
		return nil
	})
	return got
}

// counter is a tiny test processor: it counts records per key in a store
// and emits "key=count" for each record.
type counter struct {
	store *streams.StoreDef[int64]
	out   string
	mu    sync.Mutex
	seen  int
}

func newCounter(out string) *counter {
	return &counter{store: streams.NewStore[int64]("counts", streams.JSON[int64](1)), out: out}
}

func (c *counter) handle(t *streams.Task, r *kgo.Record) error {
	if string(r.Value) == "poison" {
		return streams.Poison(streams.ReasonInvalid, errors.New("poison value"))
	}
	key := string(r.Key)
	var n int64
	err := c.store.Of(t).Update(key, func(v *int64, _ bool) error { *v++; n = *v; return nil })
	if err != nil {
		return err
	}
	t.Emit(&kgo.Record{Topic: c.out, Key: r.Key, Value: []byte(key + "=" + strconv.FormatInt(n, 10))})
	c.mu.Lock()
	c.seen++
	c.mu.Unlock()
	return nil
}

func keyed(topic string, n, keys int) []*kgo.Record {
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i%keys)), Value: []byte(strconv.Itoa(i))}
	}
	return rs
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
