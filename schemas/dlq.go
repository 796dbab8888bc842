package schemas

// Headers a dead-letter record carries on top of the original record's own.
// A *.dlq.v1 record keeps the original key, value and headers unchanged, so
// `orderpipe` can replay it to its source topic once the cause is fixed.
const (
	DLQHeaderReason    = "dlq_reason"    // why the record could not be processed (one line)
	DLQHeaderTopic     = "dlq_topic"     // the topic it was read from
	DLQHeaderPartition = "dlq_partition" // its partition (decimal)
	DLQHeaderOffset    = "dlq_offset"    // its offset (decimal)
	DLQHeaderStage     = "dlq_stage"     // the component that gave up on it, e.g. "order-sink"
	DLQHeaderTime      = "dlq_time"      // when (RFC 3339)
)
