// Package proptest holds the API property tests: schemathesis (PyPI,
// installed by scripts/install-tools.sh into .cache/schemathesis) run
// against the /openapi.json of the ingress and catalog-api while all four
// services run in-process on the real Kafka, PostgreSQL and Redis of
// `make test`. Every operation is generated from its document, including
// the stateful links it declares (place order → get/cancel; create cart →
// set item → checkout); the checks are no 5xx, documented status codes,
// documented content types and response bodies that match their schemas.
//
// `make test` runs a bounded pass (SCHEMATHESIS_MAX_TIME seconds per
// service, a fixed seed); `make schemathesis-long` a longer one with a
// random seed. Results: docs/security.md, "API property testing".
package proptest
