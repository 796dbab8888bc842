package chaos

import (
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

// Observed is what the pipeline's topics, database and caches hold at the
// end of a run, read from outside (collect.go) — never what a service says
// about itself.
type Observed struct {
	// Requests: orderId → request records on orders.requests.v1 (what reached Kafka).
	Requests map[string]int
	// Events is orders.events.v1 in partition/offset order.
	Events []Event
	// Results is inventory.results.v1.
	Results []schemas.InventoryResult
	// Commands is inventory.commands.v1 (reserve, release, commit, adjust) in offset order per product.
	Commands []schemas.InventoryCommand
	// Stock is every inventory.stock.v1 snapshot, in offset order per product.
	Stock []schemas.StockSnapshot
	// Rows is the PostgreSQL projection: orderId → row.
	Rows map[string]Row
	// Views is the Redis order status projection: orderId → status (only orders the verifier asked for).
	Views map[string]string
	// CatalogStock is the catalog projection's stock per product in Redis.
	CatalogStock map[string]schemas.StockSnapshot
	// DLQ is every record of every dead-letter topic.
	DLQ []DLQRecord
}

// Event is one orders.events.v1 record.
type Event struct {
	schemas.OrderEvent
	CEID      string
	Timestamp time.Time // the record's timestamp (when the saga wrote it)
}

// Row is one orders row with its lines and history.
type Row struct {
	Status  string
	Version int64
	Total   *int64
	Lines   []RowLine // by line number
	History int
}

// RowLine is one order_lines row.
type RowLine struct {
	ProductID string
	Quantity  int
	UnitPrice *int64
	LineTotal *int64
}

// DLQRecord is one dead-lettered record.
type DLQRecord struct {
	Topic, Key, Reason, Error string
}
