package orderstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/schemas"
)

// Page sizes of List.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Reader reads orders from PostgreSQL. Give it a read-only pool
// (NewReadOnlyPool). Orders come back in the ingress's view shape
// (orderview.View), so GET /api/v1/orders and GET /api/v1/orders/{id}
// answer alike whichever store served them.
type Reader struct {
	pool *pgxpool.Pool
}

// NewReader returns a reader on pool.
func NewReader(pool *pgxpool.Pool) *Reader { return &Reader{pool: pool} }

// Page is one page of a customer's orders, newest first. NextCursor is
// empty on the last page.
type Page struct {
	Items      []orderview.View `json:"items"`
	NextCursor string           `json:"nextCursor,omitempty"`
}

const selectOrders = `
SELECT o.order_id, o.customer_id, o.status, o.version, o.currency, o.total_amount, o.reason, o.created_at, o.updated_at,
       COALESCE(l.lines, '[]')
FROM orders o
LEFT JOIN LATERAL (
    SELECT json_agg(json_build_object('lineNo', line_no, 'productId', product_id, 'quantity', quantity,
                                      'unitPrice', unit_price, 'lineTotal', line_total) ORDER BY line_no) AS lines
    FROM order_lines WHERE order_id = o.order_id
) l ON true`

// List returns up to pageSize (1..MaxPageSize; 0 means DefaultPageSize)
// orders of customerID, newest first, after cursor ("" for the first page).
// A cursor this API did not issue for customerID is ErrBadCursor.
func (r *Reader) List(ctx context.Context, customerID, cursorText string, pageSize int) (Page, error) {
	if pageSize == 0 {
		pageSize = DefaultPageSize
	}
	if pageSize < 1 || pageSize > MaxPageSize {
		return Page{}, badPageSize()
	}
	var after *cursor
	if cursorText != "" {
		c, ok := decodeCursor(customerID, cursorText)
		if !ok {
			return Page{}, badCursor()
		}
		after = &c
	}
	q := selectOrders + ` WHERE o.customer_id = $1`
	args := []any{customerID, pageSize + 1}
	if after != nil {
		q += ` AND (o.created_at, o.order_id) < ($3, $4)`
		args = append(args, after.createdAt, after.orderID)
	}
	q += ` ORDER BY o.created_at DESC, o.order_id DESC LIMIT $2`
	rows, err := r.pool.Query(ctx, q, args...)
	if err != nil {
		return Page{}, unavailable(err)
	}
	views, keys, err := scanViews(rows)
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: views}
	if len(views) > pageSize {
		page.Items = views[:pageSize]
		page.NextCursor = encodeCursor(customerID, keys[pageSize-1])
	}
	return page, nil
}

// Get returns one order, or ErrNotFound.
func (r *Reader) Get(ctx context.Context, orderID string) (orderview.View, error) {
	id, err := uuid.Parse(orderID)
	if err != nil {
		return orderview.View{}, notFound(orderID)
	}
	rows, err := r.pool.Query(ctx, selectOrders+` WHERE o.order_id = $1`, id)
	if err != nil {
		return orderview.View{}, unavailable(err)
	}
	views, _, err := scanViews(rows)
	if err != nil {
		return orderview.View{}, err
	}
	if len(views) == 0 {
		return orderview.View{}, notFound(orderID)
	}
	return views[0], nil
}

type dbLine struct {
	LineNo    int    `json:"lineNo"`
	ProductID string `json:"productId"`
	Quantity  int    `json:"quantity"`
	UnitPrice *int64 `json:"unitPrice"`
	LineTotal *int64 `json:"lineTotal"`
}

func scanViews(rows pgx.Rows) ([]orderview.View, []cursor, error) {
	defer rows.Close()
	var (
		views []orderview.View
		keys  []cursor
	)
	for rows.Next() {
		var (
			v         orderview.View
			id        uuid.UUID
			total     *int64
			reason    *string
			createdAt time.Time
			linesJSON []byte
		)
		if err := rows.Scan(&id, &v.CustomerID, &v.Status, &v.Version, &v.Currency, &total, &reason, &createdAt, &v.UpdatedAt, &linesJSON); err != nil {
			return nil, nil, unavailable(err)
		}
		v.OrderID = id.String()
		v.UpdatedAt = v.UpdatedAt.UTC()
		if reason != nil {
			v.Reason = *reason
		}
		if total != nil {
			v.Total = &schemas.Money{Amount: *total, Currency: v.Currency}
		}
		var lines []dbLine
		if err := json.Unmarshal(linesJSON, &lines); err != nil {
			return nil, nil, fmt.Errorf("orderstore: lines of %s: %w", v.OrderID, err)
		}
		for _, l := range lines {
			line := orderview.Line{LineNo: l.LineNo, ProductID: l.ProductID, Quantity: l.Quantity}
			if l.UnitPrice != nil {
				line.UnitPrice = &schemas.Money{Amount: *l.UnitPrice, Currency: v.Currency}
			}
			if l.LineTotal != nil {
				line.LineTotal = &schemas.Money{Amount: *l.LineTotal, Currency: v.Currency}
			}
			v.Lines = append(v.Lines, line)
		}
		views = append(views, v)
		keys = append(keys, cursor{createdAt: createdAt, orderID: id})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, unavailable(err)
	}
	return views, keys, nil
}

// IsClientError reports whether err is the caller's mistake (bad cursor or
// page size), as opposed to the store being unavailable.
func IsClientError(err error) bool {
	return errors.Is(err, ErrBadCursor) || errors.Is(err, ErrBadPageSize)
}
