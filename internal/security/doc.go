// Package security holds orderpipe's hostile-traffic tests (no production
// code): the abuse and auth-attack tables run against a real ingress and
// catalog-api on real Kafka, Redis and PostgreSQL, and assert the exact
// status, an RFC 9457 problem body, and what was (not) produced to Kafka,
// read back from the topics. docs/security.md explains what they prove.
package security
