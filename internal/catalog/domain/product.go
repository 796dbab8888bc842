package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/orderpipe/orderpipe/pkg/ident"
	"github.com/orderpipe/orderpipe/schemas"
)

// Limits of a product record.
const (
	MaxIDLength          = 128
	MaxNameLength        = 200
	MaxDescriptionLength = 4000
	MaxSKULength         = 64
	// MaxPrice bounds a unit price in minor units (a trillion minor units),
	// so that quantity × price never overflows int64.
	MaxPrice = 1_000_000_000_000
	// LowStock is the available quantity at or below which a product shows
	// as LOW_STOCK.
	LowStock = 5
)

// Availability statuses.
const (
	InStock    = "IN_STOCK"
	LowStockSt = "LOW_STOCK"
	OutOfStock = "OUT_OF_STOCK"
)

// Stock is the part of an inventory.stock.v1 snapshot the catalog keeps.
type Stock struct {
	OnHand    int64 `json:"onHand"`
	Reserved  int64 `json:"reserved"`
	Available int64 `json:"available"`
	Version   int64 `json:"version"`
}

// Availability is a product's stock as shoppers see it.
type Availability struct {
	Status            string `json:"status"`
	IsAvailable       bool   `json:"isAvailable"`
	AvailableQuantity int64  `json:"availableQuantity"`
}

// View is a product as GET /api/v1/products{,/id} shows it.
type View struct {
	ID           string        `json:"id"`
	SKU          string        `json:"sku,omitempty"`
	Name         string        `json:"name"`
	Description  string        `json:"description,omitempty"`
	CategoryID   string        `json:"categoryId"`
	Price        schemas.Money `json:"price"`
	IsActive     bool          `json:"isActive"`
	Availability Availability  `json:"availability"`
	Version      int64         `json:"version"`
	StockVersion int64         `json:"stockVersion"`
	UpdatedAt    time.Time     `json:"updatedAt"`
}

// Compose builds the view of a product from its catalog record and, if one
// has been seen, its stock snapshot. A product without a snapshot is out of
// stock; an inactive product is never available.
func Compose(p schemas.Product, s *Stock) View {
	v := View{
		ID: p.ProductID, SKU: p.SKU, Name: p.Name, Description: p.Description, CategoryID: p.CategoryID,
		Price: p.Price, IsActive: p.Active, Version: p.Version, UpdatedAt: p.UpdatedAt,
	}
	var avail int64
	if s != nil {
		avail = max(s.Available, 0)
		v.StockVersion = s.Version
	}
	v.Availability = AvailabilityOf(p.Active, avail)
	return v
}

// AvailabilityOf maps an available quantity to what shoppers see.
func AvailabilityOf(active bool, available int64) Availability {
	if !active || available <= 0 {
		return Availability{Status: OutOfStock}
	}
	st := InStock
	if available <= LowStock {
		st = LowStockSt
	}
	return Availability{Status: st, IsAvailable: true, AvailableQuantity: available}
}

// FieldError names one invalid field.
type FieldError struct {
	Field   string
	Message string
}

// ValidID reports whether s is usable as an identifier (product, category,
// cart) by ident.Check: 1..128 printable characters, no spaces, control,
// format (bidi, zero-width) or invalid characters. It returns the reason
// when it is not.
func ValidID(s string) (bool, string) {
	if why := ident.Check(s, MaxIDLength); why != "" {
		return false, why
	}
	return true, ""
}

// ValidateProduct checks a product record before it is produced (admin
// upsert, import) and lists every problem.
func ValidateProduct(p schemas.Product, isCurrency func(string) bool) []FieldError {
	var errs []FieldError
	add := func(f, m string) { errs = append(errs, FieldError{f, m}) }
	if ok, why := ValidID(p.ProductID); !ok {
		add("productId", why)
	}
	if ok, why := ValidID(p.CategoryID); !ok {
		add("categoryId", why)
	}
	text := func(field, s string, required bool, maxLen int) {
		switch {
		case strings.TrimSpace(s) == "":
			if required {
				add(field, "is required")
			}
		case !utf8.ValidString(s):
			add(field, "must be valid UTF-8")
		case utf8.RuneCountInString(s) > maxLen:
			add(field, fmt.Sprintf("must be at most %d characters", maxLen))
		case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
			add(field, "must not contain control characters")
		}
	}
	text("name", p.Name, true, MaxNameLength)
	text("description", p.Description, false, MaxDescriptionLength)
	text("sku", p.SKU, false, MaxSKULength)
	if p.Price.Amount < 0 || p.Price.Amount > MaxPrice {
		add("price.amount", fmt.Sprintf("must be an integer number of minor units between 0 and %d", int64(MaxPrice)))
	}
	if !isCurrency(p.Price.Currency) {
		add("price.currency", "must be an ISO 4217 currency code (e.g. USD)")
	}
	return errs
}

// NextVersion is the version of a new product record: microseconds since
// the epoch, but always above the current one, so versions grow in the
// order records are written even if a writer's clock lags.
func NextVersion(now time.Time, current int64) int64 {
	return max(now.UnixMicro(), current+1)
}
