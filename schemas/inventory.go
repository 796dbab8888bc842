package schemas

import "time"

// CloudEvents types of inventory and catalog records.
const (
	TypeInventoryCommand = "io.orderpipe.inventory.command.v1"
	TypeInventoryResult  = "io.orderpipe.inventory.result.v1"
	TypeStockSnapshot    = "io.orderpipe.inventory.stock.v1"
	TypeProduct          = "io.orderpipe.catalog.product.v1"
)

// Inventory command types.
const (
	CmdReserve = "reserve"
	CmdRelease = "release"
	CmdCommit  = "commit"
	CmdAdjust  = "adjust"
)

// InventoryCommand is the value on inventory.commands.v1 (key productId).
type InventoryCommand struct {
	Type      string `json:"type"`
	ProductID string `json:"productId"`

	// reserve, release, commit
	OrderID  string `json:"orderId,omitempty"`
	LineNo   int    `json:"lineNo,omitempty"`
	Quantity int    `json:"quantity,omitempty"` // reserve
	Currency string `json:"currency,omitempty"` // reserve: the order's currency

	// adjust: exactly one of Delta and Absolute
	AdjustmentID string `json:"adjustmentId,omitempty"`
	Delta        *int64 `json:"delta,omitempty"`
	Absolute     *int64 `json:"absolute,omitempty"`
	Reason       string `json:"reason,omitempty"`

	IssuedAt time.Time `json:"issuedAt"`
}

// Inventory result types.
const (
	ResultReserved = "reserved"
	ResultRejected = "rejected"
)

// Rejection reasons.
const (
	ReasonInsufficientStock = "insufficient_stock"
	ReasonUnknownProduct    = "unknown_product"
	ReasonInactiveProduct   = "inactive_product"
	ReasonCurrencyMismatch  = "currency_mismatch"
	ReasonTimeout           = "timeout"
)

// InventoryResult is the value on inventory.results.v1 (key orderId).
type InventoryResult struct {
	Type      string    `json:"type"`
	OrderID   string    `json:"orderId"`
	LineNo    int       `json:"lineNo"`
	ProductID string    `json:"productId"`
	Quantity  int       `json:"quantity"`
	UnitPrice *Money    `json:"unitPrice,omitempty"` // reserved
	Reason    string    `json:"reason,omitempty"`    // rejected
	At        time.Time `json:"at"`
}

// StockSnapshot is the value on inventory.stock.v1 (key productId,
// compacted): the public view of a product's stock.
type StockSnapshot struct {
	ProductID string    `json:"productId"`
	OnHand    int64     `json:"onHand"`
	Reserved  int64     `json:"reserved"`
	Available int64     `json:"available"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Product is the value on catalog.products.v1 (key productId, compacted).
type Product struct {
	ProductID   string    `json:"productId"`
	SKU         string    `json:"sku,omitempty"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	CategoryID  string    `json:"categoryId"`
	Price       Money     `json:"price"`
	Active      bool      `json:"active"`
	Version     int64     `json:"version"`
	UpdatedAt   time.Time `json:"updatedAt"`
}
