package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/orderpipe/orderpipe/internal/catalog/domain"
	"github.com/orderpipe/orderpipe/internal/ingress"
	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/pkg/problem"
	"github.com/orderpipe/orderpipe/pkg/strictjson"
	"github.com/orderpipe/orderpipe/schemas"
)

const maxBodyBytes = 64 << 10

// cartItemView is one item of a cart as GET shows it, priced from the
// catalog at read time (the order is priced when stock is reserved).
type cartItemView struct {
	ProductID    string               `json:"productId"`
	Quantity     int                  `json:"quantity"`
	Name         string               `json:"name,omitempty"`
	UnitPrice    *schemas.Money       `json:"unitPrice,omitempty"`
	LineTotal    *schemas.Money       `json:"lineTotal,omitempty"`
	Availability *domain.Availability `json:"availability,omitempty"`
}

type cartView struct {
	ID        string         `json:"id"`
	Items     []cartItemView `json:"items"`
	ItemCount int            `json:"itemCount"`
	Subtotal  *schemas.Money `json:"subtotal,omitempty"` // when every item is priced in one currency
	OrderID   string         `json:"orderId,omitempty"`
	ExpiresAt time.Time      `json:"expiresAt"`
}

func (s *Service) cartView(c domain.Cart) cartView {
	v := cartView{ID: c.ID, Items: []cartItemView{}, OrderID: c.OrderID, ExpiresAt: c.ExpiresAt.UTC().Truncate(time.Second)}
	var total schemas.Money
	priced := true
	for _, l := range c.Lines() {
		item := cartItemView{ProductID: l.ProductID, Quantity: l.Quantity}
		v.ItemCount += l.Quantity
		if p, err := s.reader.view(l.ProductID); err == nil {
			item.Name = p.Name
			item.UnitPrice = &p.Price
			item.LineTotal = &schemas.Money{Amount: p.Price.Amount * int64(l.Quantity), Currency: p.Price.Currency}
			item.Availability = &p.Availability
			switch total.Currency {
			case "":
				total = *item.LineTotal
			case p.Price.Currency:
				total.Amount += item.LineTotal.Amount
			default:
				priced = false
			}
		} else {
			priced = false
		}
		v.Items = append(v.Items, item)
	}
	if priced && total.Currency != "" {
		v.Subtotal = &total
	}
	return v
}

// createCart is POST /api/v1/carts. A body is optional and its fields (a
// session id from older clients, …) are ignored.
func (s *Service) createCart(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBodyBytes)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, intake.TypeTooLarge, "the body is larger than 64 KiB"))
			return
		}
	}
	c, err := s.carts.create(r.Context())
	if err != nil {
		s.cartError(w, r, "create", err)
		return
	}
	s.m.cartOps.WithLabelValues("create", "ok").Inc()
	w.Header().Set("Location", "/api/v1/carts/"+c.ID)
	writeJSON(w, http.StatusCreated, s.cartView(c))
}

// getCart is GET /api/v1/carts/{id}.
func (s *Service) getCart(w http.ResponseWriter, r *http.Request) {
	id, ok := cartID(w, r)
	if !ok {
		return
	}
	c, err := s.carts.get(r.Context(), id)
	if err != nil {
		s.cartError(w, r, "get", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s.cartView(c))
}

type putItemBody struct {
	ProductID *string `json:"productId"`
	Quantity  *int    `json:"quantity"`
}

// putCartItem is PUT /api/v1/carts/{id}/items: sets one product's quantity.
func (s *Service) putCartItem(w http.ResponseWriter, r *http.Request) {
	id, ok := cartID(w, r)
	if !ok {
		return
	}
	var body putItemBody
	if p := decodeBody(w, r, &body); p != nil {
		problem.Write(w, r, p)
		return
	}
	var errs []problem.FieldError
	if body.ProductID == nil {
		errs = append(errs, problem.FieldError{Field: "productId", Message: "is required"})
	} else if ok, why := domain.ValidID(*body.ProductID); !ok {
		errs = append(errs, problem.FieldError{Field: "productId", Message: why})
	}
	if body.Quantity == nil {
		errs = append(errs, problem.FieldError{Field: "quantity", Message: "is required"})
	} else if *body.Quantity < 1 || *body.Quantity > domain.MaxCartQuantity {
		errs = append(errs, problem.FieldError{Field: "quantity", Message: "must be an integer between 1 and 9999"})
	}
	if len(errs) > 0 {
		problem.Write(w, r, intake.Invalid(errs))
		return
	}
	pid, qty := *body.ProductID, *body.Quantity
	v, err := s.reader.view(pid)
	switch {
	case errors.Is(err, errNotFound):
		p := problem.New(http.StatusUnprocessableEntity, intake.TypeValidation, "no product "+pid+" in the catalog")
		p.Errors = []problem.FieldError{{Field: "productId", Message: "is not in the catalog"}}
		problem.Write(w, r, p)
		return
	case err != nil:
		s.cartError(w, r, "set_item", err)
		return
	}
	if why := domain.CheckQuantity(qty, v); why != "" {
		p := problem.New(http.StatusUnprocessableEntity, intake.TypeValidation, "quantity "+why)
		p.Errors = []problem.FieldError{{Field: "quantity", Message: why}}
		problem.Write(w, r, p)
		return
	}
	if err := s.carts.setItem(r.Context(), id, pid, qty); err != nil {
		s.cartError(w, r, "set_item", err)
		return
	}
	s.respondCart(w, r, "set_item", id)
}

// deleteCartItem is DELETE /api/v1/carts/{id}/items/{productId}.
func (s *Service) deleteCartItem(w http.ResponseWriter, r *http.Request) {
	id, ok := cartID(w, r)
	if !ok {
		return
	}
	if err := s.carts.removeItem(r.Context(), id, mux.Vars(r)["productId"]); err != nil {
		s.cartError(w, r, "remove_item", err)
		return
	}
	s.respondCart(w, r, "remove_item", id)
}

func (s *Service) respondCart(w http.ResponseWriter, r *http.Request, op, id string) {
	c, err := s.carts.get(r.Context(), id)
	if err != nil {
		s.cartError(w, r, op, err)
		return
	}
	s.m.cartOps.WithLabelValues(op, "ok").Inc()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s.cartView(c))
}

// checkout is POST /api/v1/carts/{id}/checkout with {customerId,
// shippingAddress, currency?}. The cart's items become the order's lines
// (ordered by productId) and the cart id its Idempotency-Key; the order goes
// through the same intake as POST /api/v1/orders and gets the same answers:
// 202 + Location, 400 for an invalid body, 409 while the first checkout is
// in flight, 503 when Kafka is down. Repeating a checkout replays its answer.
func (s *Service) checkout(w http.ResponseWriter, r *http.Request) {
	who, ok := s.principal(w, r)
	if !ok {
		return
	}
	id, ok := cartID(w, r)
	if !ok {
		return
	}
	raw, p := readBody(w, r)
	if p != nil {
		problem.Write(w, r, p)
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		// Let the intake word the problem exactly as POST /api/v1/orders does.
		_, p := intake.Parse(raw, s.cfg.Intake.DefaultCurrency)
		if p == nil {
			p = problem.New(http.StatusBadRequest, intake.TypeMalformed, "the body must be a JSON object")
		}
		problem.Write(w, r, p)
		return
	}
	var customer string
	_ = json.Unmarshal(fields["customerId"], &customer)
	scope := who.Subject
	if scope == "" {
		scope = customer
	}
	if ok, _ := domain.ValidID(customer); !ok || scope == "" {
		_, p := intake.Parse(raw, s.cfg.Intake.DefaultCurrency)
		if p == nil {
			p = intake.Invalid([]problem.FieldError{{Field: "customerId", Message: "is required"}})
		}
		problem.Write(w, r, p)
		return
	}
	if who.Subject != "" && customer != who.Subject {
		problem.Write(w, r, ingress.ForbiddenCustomer())
		return
	}
	cart, err := s.carts.claim(r.Context(), id, scope)
	if err != nil {
		s.cartError(w, r, "checkout", err)
		return
	}
	lines, _ := json.Marshal(cart.Lines())
	fields["lines"] = lines
	body, _ := json.Marshal(fields)
	order, p := intake.Parse(body, s.cfg.Intake.DefaultCurrency)
	if p != nil {
		problem.Write(w, r, p)
		return
	}
	acc, err := s.intake.Submit(r.Context(), intake.Submission{Scope: scope, Key: id, Order: order})
	if err != nil {
		s.m.cartOps.WithLabelValues("checkout", "refused").Inc()
		var pr *problem.Problem
		if errors.As(err, &pr) {
			problem.Write(w, r, pr)
			return
		}
		s.log.ErrorContext(r.Context(), "checkout failed", "cartId", id, "error", err)
		problem.Write(w, r, problem.New(http.StatusInternalServerError, "", "internal error"))
		return
	}
	if err := s.carts.ordered(r.Context(), id, acc.OrderID); err != nil {
		// The order is durable; the cart only misses its marker (a later
		// checkout replays the same order through the intake).
		s.log.WarnContext(r.Context(), "checkout: cart not marked", "cartId", id, "orderId", acc.OrderID, "error", err)
	}
	s.m.cartOps.WithLabelValues("checkout", string(acc.Outcome)).Inc()
	ingress.WriteAccepted(w, acc)
}

func (s *Service) cartError(w http.ResponseWriter, r *http.Request, op string, err error) {
	var p *problem.Problem
	switch {
	case errors.Is(err, errCartNotFound):
		p = problem.New(http.StatusNotFound, TypeCartNotFound, "no such cart (it may have expired)")
	case errors.Is(err, errCartCheckedOut):
		p = problem.New(http.StatusConflict, TypeCartCheckedOut, "the cart was checked out; it can no longer change")
	case errors.Is(err, errCartCustomer):
		p = problem.New(http.StatusConflict, TypeCartConflict, "the cart is being checked out by another customer")
	case errors.Is(err, errCartFull):
		p = problem.New(http.StatusUnprocessableEntity, intake.TypeValidation, "a cart holds at most 100 products")
		p.Errors = []problem.FieldError{{Field: "productId", Message: "the cart already holds 100 products"}}
	default:
		s.m.cartOps.WithLabelValues(op, "unavailable").Inc()
		s.log.WarnContext(r.Context(), "cart store unavailable", "op", op, "error", err)
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, TypeUnavailable, "carts are unavailable right now; retry shortly").WithRetryAfter(time.Second))
		return
	}
	s.m.cartOps.WithLabelValues(op, "refused").Inc()
	problem.Write(w, r, p)
}

func cartID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := mux.Vars(r)["id"]
	u, err := uuid.Parse(id)
	if err != nil || u.String() != strings.ToLower(id) {
		problem.Write(w, r, problem.New(http.StatusNotFound, TypeCartNotFound, "no such cart: cart ids are UUIDs"))
		return "", false
	}
	return u.String(), true
}

// readBody reads a JSON request body (at most 64 KiB, never buffering
// more): 415 for a declared non-JSON type, 413 beyond the limit, 400 for a
// member named twice or nesting deeper than strictjson.MaxDepth.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *problem.Problem) {
	if p := intake.CheckContentType(r); p != nil {
		return nil, p
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBodyBytes)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, problem.New(http.StatusRequestEntityTooLarge, intake.TypeTooLarge, "the body is larger than 64 KiB")
		}
		return nil, problem.New(http.StatusBadRequest, intake.TypeMalformed, "the body could not be read: "+err.Error())
	}
	if err := strictjson.Check(buf.Bytes()); err != nil {
		return nil, problem.New(http.StatusBadRequest, intake.TypeMalformed, err.Error())
	}
	return buf.Bytes(), nil
}

// decodeBody reads a JSON object into v; unknown fields are ignored.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) *problem.Problem {
	raw, p := readBody(w, r)
	if p != nil {
		return p
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return intake.Invalid([]problem.FieldError{{Field: te.Field, Message: "has the wrong JSON type"}})
		}
		return problem.New(http.StatusBadRequest, intake.TypeMalformed, "malformed JSON: "+err.Error())
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
