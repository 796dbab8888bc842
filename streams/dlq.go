package streams

import (
	"errors"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
)

// Dead-letter header names. A DLQ record is the original record (key,
// value, headers) plus these headers, on kafka.DLQ(original topic).
const (
	HeaderDLQReason    = "dlq_reason"    // short machine-readable reason (ReasonDecode, …)
	HeaderDLQError     = "dlq_error"     // the error text
	HeaderDLQTopic     = "dlq_topic"     // original topic
	HeaderDLQPartition = "dlq_partition" // original partition
	HeaderDLQOffset    = "dlq_offset"    // original offset
	HeaderDLQGroup     = "dlq_group"     // the processor (consumer group) that gave up
	HeaderDLQTime      = "dlq_time"      // RFC 3339 time it was dead-lettered
)

// Reasons the runtime itself uses.
const (
	ReasonDecode  = "decode"        // the value could not be decoded
	ReasonInvalid = "invalid"       // decoded, but not a valid record
	ReasonPanic   = "panic"         // the handler panicked
	ReasonHandler = "handler_error" // the handler returned a plain error
)

// PoisonError marks an error as a property of the record itself: retrying
// cannot help, so the record goes to its DLQ with Reason and the partition
// moves on.
type PoisonError struct {
	Reason string
	Err    error
}

func (e *PoisonError) Error() string { return e.Reason + ": " + e.Err.Error() }

func (e *PoisonError) Unwrap() error { return e.Err }

// Poison wraps err as a PoisonError with reason (ReasonDecode,
// ReasonInvalid or a reason of the processor's own).
func Poison(reason string, err error) error {
	if err == nil {
		err = errors.New(reason)
	}
	return &PoisonError{Reason: reason, Err: err}
}

// ReasonOf returns the DLQ reason for a handler error.
func ReasonOf(err error) string {
	var pe *PoisonError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ReasonHandler
}

// dlqRecord builds the dead-letter record of r.
func dlqRecord(r *kgo.Record, group, reason string, err error, now time.Time) *kgo.Record {
	msg := ""
	if err != nil {
		msg = err.Error()
		if len(msg) > 4096 {
			msg = msg[:4096]
		}
	}
	h := make([]kgo.RecordHeader, 0, len(r.Headers)+7)
	h = append(h, r.Headers...)
	h = append(h,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
		kgo.RecordHeader{Key: HeaderDLQGroup, Value: []byte(group)},
		kgo.RecordHeader{Key: HeaderDLQTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
	)
	return &kgo.Record{Topic: kafka.DLQ(r.Topic), Key: r.Key, Value: r.Value, Headers: h}
}
