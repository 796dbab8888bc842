package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/catalog/domain"
	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
)

// Source is the CloudEvents source of the records catalog-api writes.
const Source = "/orderpipe/catalog-api"

// Records builds the records catalog admin, import and the demo seed
// produce: product upserts on catalog.products.v1 and stock adjustments on
// inventory.commands.v1, both keyed by productId, with CloudEvents headers.
type Records struct {
	names kafka.Names
}

// NewRecords returns the builder for topics under prefix (TOPIC_PREFIX).
func NewRecords(topicPrefix string) Records { return Records{names: kafka.TopicNames(topicPrefix)} }

// InvalidError lists what is wrong with a product or an adjustment.
type InvalidError struct{ Fields []domain.FieldError }

func (e *InvalidError) Error() string {
	if len(e.Fields) == 0 {
		return "invalid"
	}
	s := e.Fields[0].Field + " " + e.Fields[0].Message
	if len(e.Fields) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(e.Fields)-1)
	}
	return s
}

// Product validates p and returns its record.
func (rb Records) Product(ctx context.Context, p schemas.Product) (*kgo.Record, error) {
	if errs := domain.ValidateProduct(p, intake.IsCurrency); len(errs) > 0 {
		return nil, &InvalidError{errs}
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = time.Now().UTC()
	}
	value, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return kafka.NewRecord(ctx, rb.names.CatalogProducts, []byte(p.ProductID), value,
		kafka.Event{Type: schemas.TypeProduct, Source: Source, Time: p.UpdatedAt}), nil
}

// Adjustment limits.
const maxAdjust = 1_000_000_000

// Adjust validates a stock adjustment and returns its command record.
func (rb Records) Adjust(ctx context.Context, c schemas.InventoryCommand) (*kgo.Record, error) {
	c.Type = schemas.CmdAdjust
	if errs := ValidateAdjust(c); len(errs) > 0 {
		return nil, &InvalidError{errs}
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now().UTC()
	}
	value, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return kafka.NewRecord(ctx, rb.names.InventoryCommands, []byte(c.ProductID), value,
		kafka.Event{Type: schemas.TypeInventoryCommand, Source: Source, Time: c.IssuedAt}), nil
}

// ValidateAdjust checks an Adjust command and lists every problem.
func ValidateAdjust(c schemas.InventoryCommand) []domain.FieldError {
	var errs []domain.FieldError
	if ok, why := domain.ValidID(c.ProductID); !ok {
		errs = append(errs, domain.FieldError{Field: "productId", Message: why})
	}
	if ok, why := domain.ValidID(c.AdjustmentID); !ok {
		errs = append(errs, domain.FieldError{Field: "adjustmentId", Message: why})
	}
	switch {
	case (c.Delta == nil) == (c.Absolute == nil):
		errs = append(errs, domain.FieldError{Field: "delta", Message: "give exactly one of delta and absolute"})
	case c.Delta != nil && (*c.Delta == 0 || *c.Delta > maxAdjust || *c.Delta < -maxAdjust):
		errs = append(errs, domain.FieldError{Field: "delta", Message: fmt.Sprintf("must be a non-zero integer between -%d and %d", maxAdjust, maxAdjust)})
	case c.Absolute != nil && (*c.Absolute < 0 || *c.Absolute > maxAdjust):
		errs = append(errs, domain.FieldError{Field: "absolute", Message: fmt.Sprintf("must be an integer between 0 and %d", maxAdjust)})
	}
	if len(c.Reason) > 200 {
		errs = append(errs, domain.FieldError{Field: "reason", Message: "must be at most 200 characters"})
	}
	return errs
}

// IsInvalid reports whether err is a validation error, and its fields.
func IsInvalid(err error) ([]domain.FieldError, bool) {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Fields, true
	}
	return nil, false
}
