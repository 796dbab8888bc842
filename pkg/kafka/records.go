package kafka

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
)

// CloudEvents Kafka binary-mode header names.
const (
	HeaderID          = "ce_id"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
	HeaderSpecVersion = "ce_specversion"
	HeaderTime        = "ce_time"
	HeaderContentType = "content-type"
)

// Event describes a record as a CloudEvent.
type Event struct {
	ID     string // unique per event; a new UUID when empty
	Type   string // e.g. schemas.TypeOrderPlaced
	Source string // producing component, e.g. "/orderpipe/ingress"
	Time   time.Time
}

// NewRecord builds a record with CloudEvents binary-mode headers and the
// W3C trace context of ctx (traceparent), ready to produce.
func NewRecord(ctx context.Context, topic string, key, value []byte, ev Event) *kgo.Record {
	if ev.ID == "" {
		ev.ID = uuid.NewString()
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	r := &kgo.Record{Topic: topic, Key: key, Value: value, Headers: make([]kgo.RecordHeader, 0, 7)}
	r.Headers = append(r.Headers,
		kgo.RecordHeader{Key: HeaderID, Value: []byte(ev.ID)},
		kgo.RecordHeader{Key: HeaderType, Value: []byte(ev.Type)},
		kgo.RecordHeader{Key: HeaderSource, Value: []byte(ev.Source)},
		kgo.RecordHeader{Key: HeaderSpecVersion, Value: []byte("1.0")},
		kgo.RecordHeader{Key: HeaderTime, Value: []byte(ev.Time.UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: HeaderContentType, Value: []byte("application/json")},
	)
	otel.GetTextMapPropagator().Inject(ctx, HeaderCarrier{r})
	return r
}

// Header returns the value of the record's last header named key.
func Header(r *kgo.Record, key string) string {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value)
		}
	}
	return ""
}

// HeaderCarrier adapts a record's headers for OpenTelemetry propagation.
type HeaderCarrier struct{ R *kgo.Record }

// Get returns the header value for key.
func (c HeaderCarrier) Get(key string) string { return Header(c.R, key) }

// Set replaces the header key.
func (c HeaderCarrier) Set(key, value string) {
	for i := range c.R.Headers {
		if c.R.Headers[i].Key == key {
			c.R.Headers[i].Value = []byte(value)
			return
		}
	}
	c.R.Headers = append(c.R.Headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

// Keys lists the header keys.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, len(c.R.Headers))
	for i, h := range c.R.Headers {
		keys[i] = h.Key
	}
	return keys
}

// ExtractContext returns ctx with the trace context carried by r's headers.
func ExtractContext(ctx context.Context, r *kgo.Record) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, HeaderCarrier{r})
}

var keyPartitioner = kgo.StickyKeyPartitioner(nil).ForTopic("")

// PartitionFor returns the partition Kafka's default partitioner (murmur2,
// positive, mod n) gives key among n partitions. The ingress uses it to put
// a request on its orderId's partition while keying it by idempotency key.
func PartitionFor(key []byte, n int) int32 {
	return int32(keyPartitioner.Partition(&kgo.Record{Key: key}, n))
}
