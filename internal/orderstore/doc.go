// Package orderstore is the PostgreSQL order store: its schema and
// migrations (goose), and the read side that serves
// GET /api/v1/orders?customerId=&cursor=&pageSize= and the PostgreSQL
// fallback of GET /api/v1/orders/{id} from a read-only pool. The rows are
// written only by the order-processor's sink (internal/orders/sink).
package orderstore
