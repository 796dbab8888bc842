// Package chaos is the Black Friday proof behind `orderpipe chaos`: it runs
// the whole pipeline as real processes (two instances of every service) on
// a 3-broker Apache Kafka, PostgreSQL and Redis, drives it with clients
// that keep their own ledger (retry storms, concurrent duplicates, changed
// bodies, in-flight cancels, a 20× burst) while it injects bounded faults
// (kill -9 of processor instances, broker kill -9 and clean restarts,
// PostgreSQL and Redis outages), and then verifies the end state from
// outside: every topic read with read_committed once the last stable
// offset reaches the end, the PostgreSQL rows and the Redis projections,
// compared with the ledger (Verify). Nothing a service says about itself
// is trusted.
package chaos
