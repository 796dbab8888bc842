// Package saga is the order saga's rules: admitting a request once per
// idempotency key, placing the order, collecting the inventory answers of its
// lines and ending it exactly once — confirmed, rejected, cancelled or timed
// out. It is plain Go: no Kafka, so every rule is a table test. The adapter
// (internal/orders/processor) stores what these functions return and writes
// their Effects in one Kafka transaction.
//
//	request ──Admit──▶ New ──Place──▶ PENDING (v1): OrderPlaced + Reserve per line
//	                   Duplicate        │  (a held cancel: OrderPlaced + OrderCancelled, no Reserve)
//	                   Conflict         ├─ every line reserved ─▶ CONFIRMED (v2): OrderConfirmed + Commit per line
//	                                    ├─ a line rejected ─────▶ REJECTED  (v2): OrderRejected + Release per line
//	                                    ├─ cancel ──────────────▶ CANCELLED (v2): OrderCancelled + Release per line
//	                                    └─ deadline passed ─────▶ REJECTED  (v2, reason timeout) + Release per line
//
// A Release goes to every line, reserved or not: it always follows the line's
// Reserve in the product's partition, and inventory treats releasing a line
// that holds nothing as a no-op. So a rejection need not wait for the other
// lines' answers, and a reservation that answers after the order ended is
// still undone. Answers for a finished order are ignored by the adapter (it
// keeps no saga for it); a cancel for an order not yet seen is held and
// applied by Place.
package saga
