package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// TestPartitionForMatchesDefaultPartitioner: the ingress places requests by
// PartitionFor(orderId); it must agree with what the default partitioner
// does for a record keyed by orderId, or co-partitioning breaks.
func TestPartitionForMatchesDefaultPartitioner(t *testing.T) {
	t.Parallel()
	env := testenv.Kafka(t)
	topic := env.Config.TopicPrefix + "partitioning"
	cl := env.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 7
	if _, err := kadmCreate(ctx, cl, topic, n, env.Config.ReplicationFactor); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		key := []byte(fmt.Sprintf("order-%d", i))
		r := &kgo.Record{Topic: topic, Key: key}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if got := kafka.PartitionFor(key, n); got != r.Partition {
			t.Fatalf("key %s: PartitionFor = %d, producer chose %d", key, got, r.Partition)
		}
	}
}

func TestNewRecordCarriesCloudEventsAndTraceparent(t *testing.T) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))
	r := kafka.NewRecord(ctx, "t", []byte("k"), []byte("{}"), kafka.Event{Type: "io.orderpipe.x.v1", Source: "/orderpipe/test"})
	for _, h := range []string{kafka.HeaderID, kafka.HeaderType, kafka.HeaderSource, kafka.HeaderSpecVersion, kafka.HeaderTime, kafka.HeaderContentType} {
		if kafka.Header(r, h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if got, want := kafka.Header(r, "traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; got != want {
		t.Errorf("traceparent = %q, want %q", got, want)
	}
	back := trace.SpanContextFromContext(kafka.ExtractContext(context.Background(), r))
	if back.TraceID() != tid {
		t.Errorf("extracted trace id %s, want %s", back.TraceID(), tid)
	}
}
