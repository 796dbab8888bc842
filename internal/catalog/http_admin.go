package catalog

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/catalog/domain"
	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/pkg/problem"
	"github.com/orderpipe/orderpipe/schemas"
)

const produceTimeout = 5 * time.Second

// productBody is the body of PUT /api/v1/admin/products/{id}.
type productBody struct {
	ProductID   string        `json:"productId"`
	SKU         string        `json:"sku"`
	Name        string        `json:"name"`
	Description string        `json:"description"`
	CategoryID  string        `json:"categoryId"`
	Price       schemas.Money `json:"price"`
	IsActive    *bool         `json:"isActive"` // default true
}

// putProduct is PUT /api/v1/admin/products/{id}: validates the product and
// produces it to catalog.products.v1; 202 once Kafka has it (the read side
// shows it once projected).
func (s *Service) putProduct(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	var b productBody
	if p := decodeBody(w, r, &b); p != nil {
		problem.Write(w, r, p)
		return
	}
	if b.ProductID != "" && b.ProductID != id {
		problem.Write(w, r, intake.Invalid([]problem.FieldError{{Field: "productId", Message: "must match the id in the path"}}))
		return
	}
	p := schemas.Product{ProductID: id, SKU: b.SKU, Name: b.Name, Description: b.Description, CategoryID: b.CategoryID,
		Price: b.Price, Active: b.IsActive == nil || *b.IsActive, UpdatedAt: time.Now().UTC()}
	p.Price.Currency = upper(p.Price.Currency)
	// The version must grow in write order: above what the projection holds
	// (if Redis answers) and at least the clock in microseconds.
	cur, err := s.store.ProductVersion(r.Context(), id)
	if err != nil {
		s.log.WarnContext(r.Context(), "admin: current version unknown; using the clock", "productId", id, "error", err)
	}
	p.Version = domain.NextVersion(p.UpdatedAt, cur)
	rec, err := s.records.Product(r.Context(), p)
	if err != nil {
		s.writeInvalid(w, r, "product", err)
		return
	}
	if !s.produce(w, r, "product", rec) {
		return
	}
	w.Header().Set("Location", "/api/v1/products/"+id)
	writeJSON(w, http.StatusAccepted, map[string]any{"productId": id, "version": p.Version})
}

// adjustBody is the body of POST /api/v1/admin/inventory/{productId}/adjust.
type adjustBody struct {
	AdjustmentID string `json:"adjustmentId"`
	Delta        *int64 `json:"delta"`
	Absolute     *int64 `json:"absolute"`
	Reason       string `json:"reason"`
}

// adjustStock is POST /api/v1/admin/inventory/{productId}/adjust: produces
// an Adjust command (delta or absolute, deduplicated by adjustmentId, which
// may come as the Idempotency-Key header instead) to inventory.commands.v1.
func (s *Service) adjustStock(w http.ResponseWriter, r *http.Request) {
	pid := mux.Vars(r)["productId"]
	var b adjustBody
	if p := decodeBody(w, r, &b); p != nil {
		problem.Write(w, r, p)
		return
	}
	if b.AdjustmentID == "" {
		b.AdjustmentID = r.Header.Get("Idempotency-Key")
	}
	rec, err := s.records.Adjust(r.Context(), schemas.InventoryCommand{ProductID: pid, AdjustmentID: b.AdjustmentID,
		Delta: b.Delta, Absolute: b.Absolute, Reason: b.Reason})
	if err != nil {
		s.writeInvalid(w, r, "adjust", err)
		return
	}
	if !s.produce(w, r, "adjust", rec) {
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"productId": pid, "adjustmentId": b.AdjustmentID})
}

func (s *Service) writeInvalid(w http.ResponseWriter, r *http.Request, kind string, err error) {
	s.m.adminWrites.WithLabelValues(kind, "invalid").Inc()
	fields, ok := IsInvalid(err)
	if !ok {
		problem.Write(w, r, problem.New(http.StatusInternalServerError, "", "internal error"))
		return
	}
	errs := make([]problem.FieldError, len(fields))
	for i, f := range fields {
		errs[i] = problem.FieldError{Field: f.Field, Message: f.Message}
	}
	problem.Write(w, r, intake.Invalid(errs))
}

// produce writes one record and waits for acks=all; on failure it answers
// 503 + Retry-After and returns false.
func (s *Service) produce(w http.ResponseWriter, r *http.Request, kind string, rec *kgo.Record) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), produceTimeout)
	defer cancel()
	if err := s.producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		s.m.adminWrites.WithLabelValues(kind, "unavailable").Inc()
		s.log.WarnContext(r.Context(), "admin: produce failed", "topic", rec.Topic, "key", string(rec.Key), "error", err)
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, TypeUnavailable, "Kafka did not accept the write; retry (it is idempotent)").WithRetryAfter(time.Second))
		return false
	}
	s.m.adminWrites.WithLabelValues(kind, "ok").Inc()
	return true
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
