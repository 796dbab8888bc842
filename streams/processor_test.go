package streams_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/streams"
)

// TestCountsSurviveRestart runs a counting processor, stops it, and runs a
// new one on the same group: the new one restores the counts from the
// changelog, so every key's last output equals its number of inputs and
// every input produced exactly one output.
func TestCountsSurviveRestart(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	in, out := env.Config.TopicPrefix+"in", env.Config.TopicPrefix+"out"
	createTopics(t, env, 3, false, in, out)
	const keys = 20

	c := newCounter(out)
	topo := streams.NewTopology("counter", kafka.ByProduct).Input(in, c.handle).Store(c.store)
	r := start(t, topo, env.Config, testConfig("a"))
	produceSync(t, env, keyed(in, 500, keys)...)
	if got := readOutputs(t, env, "counter", in, out, 60*time.Second); len(got) != 500 {
		t.Fatalf("first run: %d outputs, want 500", len(got))
	}
	r.stop(t)

	// A new process: new definitions, same group and instance.
	c3 := newCounter(out)
	topo3 := streams.NewTopology("counter", kafka.ByProduct).Input(in, c3.handle).Store(c3.store)
	start(t, topo3, env.Config, testConfig("a"))
	produceSync(t, env, keyed(in, 500, keys)...)
	got := readOutputs(t, env, "counter", in, out, 60*time.Second)
	if len(got) != 1000 {
		t.Fatalf("%d outputs, want 1000", len(got))
	}
	last := map[string]string{}
	for _, r := range got {
		k, v, _ := strings.Cut(string(r.Value), "=")
		last[k] = v
	}
	for i := 0; i < keys; i++ {
		k := fmt.Sprintf("k%d", i)
		if last[k] != "50" {
			t.Errorf("%s: last count %s, want 50", k, last[k])
		}
	}
}
