package schemas

// Headers a dead-letter record carries on top of the original record's own.
// A *.dlq.v1 record keeps the original key, value and headers unchanged, so
// `orderpipe` can replay it to its source topic once the cause is fixed.
const (
	DLQHeaderReason    = "dlq_reason"    // short machine-readable reason, e.g. "decode", "invalid"
	DLQHeaderError     = "dlq_error"     // the error text, for people
	DLQHeaderTopic     = "dlq_topic"     // the topic it was read from
	DLQHeaderPartition = "dlq_partition" // its partition (decimal)
	DLQHeaderOffset    = "dlq_offset"    // its offset (decimal)
	DLQHeaderStage     = "dlq_stage"     // the component that gave up on it, e.g. "order-sink"
	DLQHeaderGroup     = "dlq_group"     // the consumer group that read it
	DLQHeaderTime      = "dlq_time"      // when (RFC 3339)
)

// Common dlq_reason values.
const (
	DLQReasonDecode  = "decode"  // the value is not what its type says (not JSON, wrong shape)
	DLQReasonInvalid = "invalid" // decoded, but breaks the contract (e.g. a total that is not Σ line totals)
	DLQReasonRefused = "refused" // a store refused it (e.g. PostgreSQL rejected a value)
)
