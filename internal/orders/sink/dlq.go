package sink

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
)

// dlqRecord is the dead-letter copy of a poison record: same key, value and
// headers, plus why and where it came from (schemas.DLQHeader*).
func dlqRecord(p Poison, stage, group string, now time.Time) *kgo.Record {
	r := p.Record
	h := append(append([]kgo.RecordHeader(nil), r.Headers...),
		kgo.RecordHeader{Key: schemas.DLQHeaderReason, Value: []byte(p.Reason)},
		kgo.RecordHeader{Key: schemas.DLQHeaderError, Value: []byte(p.Err)},
		kgo.RecordHeader{Key: schemas.DLQHeaderTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: schemas.DLQHeaderPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: schemas.DLQHeaderOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: schemas.DLQHeaderStage, Value: []byte(stage)},
		kgo.RecordHeader{Key: schemas.DLQHeaderGroup, Value: []byte(group)},
		kgo.RecordHeader{Key: schemas.DLQHeaderTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
	)
	return &kgo.Record{Topic: kafka.DLQ(r.Topic), Key: r.Key, Value: r.Value, Headers: h}
}
