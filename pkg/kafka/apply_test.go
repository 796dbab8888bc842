package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

func TestApplyCreatesThenIsNoOp(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	cl := env.Client(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := kafka.Spec(env.Config, kafka.SpecOptions{})

	var out bytes.Buffer
	res, err := kafka.Apply(ctx, cl, spec, &out)
	if err != nil {
		t.Fatalf("first apply: %v\n%s", err, out.String())
	}
	if len(res.Created) != len(spec) {
		t.Fatalf("first apply created %d topics, want %d:\n%s", len(res.Created), len(spec), out.String())
	}

	out.Reset()
	res, err = kafka.Apply(ctx, cl, spec, &out)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if res.Changed() || len(res.Unchanged) != len(spec) {
		t.Fatalf("second apply changed something: %+v\n%s", res, out.String())
	}

	names := kafka.TopicNames(env.Config.TopicPrefix)
	configs, err := adm.DescribeTopicConfigs(ctx, names.OrderRequests)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := configs.On(names.OrderRequests, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range rc.Configs {
		if c.Value != nil {
			got[c.Key] = *c.Value
		}
	}
	if got["cleanup.policy"] != "compact" {
		t.Errorf("%s cleanup.policy = %q, want compact", names.OrderRequests, got["cleanup.policy"])
	}
	if want := "604800000"; got["min.compaction.lag.ms"] != want {
		t.Errorf("%s min.compaction.lag.ms = %q, want %s (the 7-day idempotency window)", names.OrderRequests, got["min.compaction.lag.ms"], want)
	}
	details, err := adm.ListTopics(ctx, names.All()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names.All() {
		if p := len(details[n].Partitions); p != 3 {
			t.Errorf("%s has %d partitions, want 3", n, p)
		}
	}
}

func TestApplyUpdatesDriftedConfig(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	cl := env.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := kafka.Spec(env.Config, kafka.SpecOptions{})
	if _, err := kafka.Apply(ctx, cl, spec, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	longer := kafka.Spec(env.Config, kafka.SpecOptions{EventsRetention: 90 * 24 * time.Hour})
	var out bytes.Buffer
	res, err := kafka.Apply(ctx, cl, longer, &out)
	if err != nil {
		t.Fatal(err)
	}
	events := kafka.TopicNames(env.Config.TopicPrefix).OrderEvents
	if len(res.Updated) != 1 || res.Updated[0] != events || len(res.Created) != 0 {
		t.Fatalf("want only %s updated, got %+v\n%s", events, res, out.String())
	}
	if !strings.Contains(out.String(), "retention.ms=7776000000") {
		t.Errorf("output does not show the new retention:\n%s", out.String())
	}
}

func TestApplyRefusesPartitionMismatch(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	cl := env.Client(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kafka.Apply(ctx, cl, kafka.Spec(env.Config, kafka.SpecOptions{}), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	grown := env.Config
	grown.OrderPartitions = 6
	var out bytes.Buffer
	_, err := kafka.Apply(ctx, cl, kafka.Spec(grown, kafka.SpecOptions{}), &out)
	if !errors.Is(err, kafka.ErrPartitionMismatch) {
		t.Fatalf("apply with more partitions: err = %v, want ErrPartitionMismatch", err)
	}
	if out.Len() != 0 {
		t.Errorf("a refused apply must change nothing, but printed:\n%s", out.String())
	}
	details, err := adm.ListTopics(ctx, kafka.TopicNames(env.Config.TopicPrefix).OrderEvents)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range details {
		if len(d.Partitions) != 3 {
			t.Errorf("%s now has %d partitions; a refused apply must not add any", d.Topic, len(d.Partitions))
		}
	}
}

func TestSpecRefusesDisagreeingCoPartitionedTopics(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	cl := env.Client(t)
	spec := kafka.Spec(env.Config, kafka.SpecOptions{})
	for i := range spec {
		if spec[i].Name == kafka.TopicNames(env.Config.TopicPrefix).InventoryResults {
			spec[i].Partitions = 5 // orderId-partitioned, but the others have 3
		}
	}
	var out bytes.Buffer
	_, err := kafka.Apply(context.Background(), cl, spec, &out)
	if err == nil || !strings.Contains(err.Error(), "co-partitioned") {
		t.Fatalf("err = %v, want a co-partitioning refusal", err)
	}
	if out.Len() != 0 {
		t.Errorf("a refused spec must create nothing, but printed:\n%s", out.String())
	}
}
