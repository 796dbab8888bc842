// Package domain is the catalog's plain-Go core: the product view the API
// shows (composed from a catalog.products.v1 record and an inventory.stock.v1
// snapshot), product validation, search terms, pagination cursors and cart
// rules. It knows nothing of Kafka, Redis or HTTP, so it is table-tested in
// microseconds.
package domain
