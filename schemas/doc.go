// Package schemas is orderpipe's public record contract: the Go types of
// every record on every topic, their CloudEvents types, and the identifiers
// derived from them. The JSON Schema files beside this package describe the
// same records for consumers in other languages; tests keep the two in step.
//
// Values are JSON (camelCase). Money is integer minor units plus an ISO 4217
// currency, never a float. Readers must ignore fields they do not know, so
// producers can add optional fields without a new topic version.
package schemas
