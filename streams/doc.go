// Package streams is the small exactly-once runtime orderpipe's processors
// share: a Topology of input topics with their Handlers, table inputs,
// state stores and punctuators, run by a Processor as a consumer-group
// member with a transactional producer (franz-go's GroupTransactSession,
// KIP-447). docs/streams.md is the manual.
//
// # Guarantees
//
// Each transaction commits, together, the outputs handlers emitted, the
// state-store changes (as records on each store's compacted changelog, to
// the task's partition) and the input offsets. For every input record its
// effects are therefore committed exactly once, or not at all, as seen by
// read_committed readers.
//
// Store writes are buffered per transaction (StoreView) and reach the
// in-memory state (Store) only after Kafka confirmed the commit; an abort
// drops them and rewinds the consumer, so records are processed again
// against committed state. A record whose handler fails or panics is undone
// on its own and goes to its topic's dead-letter queue; the partition moves
// on.
//
// A task — one partition number across all inputs, which must be
// co-partitioned — is restored from its changelogs (read_committed, to
// their end) and its tables (to their end) before it processes anything,
// after waiting until no transaction that could still add to them is open.
//
// Each processor slot has a stable transactional.id and group.instance.id
// derived from INSTANCE_ID; the producer id is initialised before joining
// the group, so a restarted slot aborts its dead predecessor's transaction
// at once. Every offset commit carries the group generation, so a zombie
// member cannot commit after its partitions moved.
//
// # Failure cases
//
// A revocation or loss during a transaction aborts it (the loop ends it;
// group callbacks never do). A failed produce aborts the transaction:
// every promise is checked before End. A failed End, or a fenced producer,
// recreates the Kafka client and restores every task. A Store backend
// error (*StoreError) stops Run. Input topics with different partition
// counts stop Run; missing topics are waited for.
//
// # Lag
//
// Lag is exported per partition in records and seconds. Transaction
// markers are consumed as records (kgo.KeepControlRecords), so a caught-up
// processor of a transactional topic reads 0, not 1 per partition.
//
// # Testing
//
// TestDriver runs a Topology in memory with the same transaction semantics;
// package storetest is the contract every Store implementation passes.
package streams
