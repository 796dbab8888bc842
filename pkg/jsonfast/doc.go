// Package jsonfast holds the allocation-light JSON primitives of the hot
// paths (the ingress's order body, the inventory-processor's commands and
// records, the order saga's records): a Scanner that reads the common,
// plain shape of a document and reports false for anything else — so the
// caller falls back to encoding/json and the result is always what
// encoding/json gives — and appenders that write exactly the bytes
// encoding/json writes for the same values.
//
// Which fields a record has stays with the package that owns the record;
// this package knows only JSON. Its tests compare every primitive with
// encoding/json, also under fuzzing (FuzzScanner, FuzzAppend).
package jsonfast
