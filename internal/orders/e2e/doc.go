// Package e2e holds the order pipeline's end-to-end acceptance tests: HTTP
// POSTs through the ingress, the inventory-processor, and the
// order-processor (saga, PostgreSQL sink, Redis projector) run as its own
// OS process so it can be killed with SIGKILL, on real Apache Kafka,
// PostgreSQL and Redis. It has no non-test code.
package e2e
