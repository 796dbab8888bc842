package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/internal/orderstore"
	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/pkg/auth"
	"github.com/orderpipe/orderpipe/pkg/ident"
	"github.com/orderpipe/orderpipe/pkg/problem"
	"github.com/orderpipe/orderpipe/schemas"
)

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// postOrder is POST /api/v1/orders.
func (s *Service) postOrder(w http.ResponseWriter, r *http.Request) {
	if p := intake.CheckContentType(r); p != nil {
		problem.Write(w, r, p)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if p := intake.ValidateKey(key); p != nil {
		problem.Write(w, r, p)
		return
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			bodyPool.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxBodyBytes))); err != nil {
		problem.Write(w, r, bodyError(err, s.cfg.MaxBodyBytes))
		return
	}
	order, p := intake.Parse(buf.Bytes(), s.cfg.Intake.DefaultCurrency)
	if p != nil {
		problem.Write(w, r, p)
		return
	}
	sub := subjectOf(r.Context())
	if sub != "" && order.CustomerID != sub {
		problem.Write(w, r, ForbiddenCustomer())
		return
	}
	acc, err := s.intake.Submit(r.Context(), intake.Submission{Scope: sub, Key: key, Order: order})
	if err != nil {
		writeError(w, r, err)
		return
	}
	if wait, ok := preferWait(r.Header.Values("Prefer"), s.cfg.MaxWait); ok && s.waiter != nil {
		if v, final := s.waiter.Wait(r.Context(), acc.OrderID, wait); final {
			w.Header().Set("Preference-Applied", "wait="+strconv.Itoa(int(wait.Seconds())))
			w.Header().Set("Location", acc.Location)
			writeJSON(w, http.StatusCreated, v)
			return
		}
	}
	WriteAccepted(w, acc)
}

// ForbiddenCustomer is the 403 for an order whose customerId is not the
// token's subject (auth on). Orders are owned by their subject; refusing
// other customerIds keeps the owner check right once the intake's record
// (which holds the subject) has expired and only customerId is left.
func ForbiddenCustomer() *problem.Problem {
	p := problem.New(http.StatusForbidden, auth.TypeForbidden, "with auth on, customerId must be the token's subject")
	p.Errors = []problem.FieldError{{Field: "customerId", Message: "must be the token's subject"}}
	return p
}

// WriteAccepted writes the 202 answer of an accepted order: Location and
// {"orderId", "status": "ACCEPTED"}.
func WriteAccepted(w http.ResponseWriter, acc intake.Accepted) {
	h := w.Header()
	h.Set("Location", acc.Location)
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusAccepted)
	// orderId is a UUID: nothing to escape.
	_, _ = io.WriteString(w, `{"orderId":"`+acc.OrderID+`","status":"`+schemas.StatusAccepted+`"}`+"\n")
}

// getOrder is GET /api/v1/orders/{id}.
func (s *Service) getOrder(w http.ResponseWriter, r *http.Request) {
	id, ok := orderID(w, r)
	if !ok {
		return
	}
	known, err := s.intake.Lookup(r.Context(), id)
	if err != nil {
		// Redis does not know the order (its projection was rebuilt, or
		// Redis is down): PostgreSQL has every order the sink has written.
		v, perr := s.cfg.Store.Get(r.Context(), id)
		switch {
		case perr == nil:
			known, err = intake.Known{View: v}, nil
		case errors.Is(err, intake.ErrNotFound) || errors.Is(perr, orderstore.ErrNotFound):
			err = intake.ErrNotFound
		}
	}
	switch {
	case errors.Is(err, intake.ErrNotFound) || (err == nil && !s.owns(r, known)):
		problem.Write(w, r, problem.New(http.StatusNotFound, "urn:orderpipe:problem:order-not-found", "no order "+id))
	case err != nil:
		s.unavailable(w, r, err)
	default:
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, known.View)
	}
}

// cancelOrder is POST /api/v1/orders/{id}/cancel.
func (s *Service) cancelOrder(w http.ResponseWriter, r *http.Request) {
	id, ok := orderID(w, r)
	if !ok {
		return
	}
	known, err := s.intake.Lookup(r.Context(), id)
	if errors.Is(err, intake.ErrNotFound) || (err != nil && subjectOf(r.Context()) != "") {
		// PostgreSQL has every order the sink has written: it answers for
		// an order Redis no longer knows (its view expired after
		// ORDER_VIEW_FINAL_TTL, or the projection was rebuilt), as for GET,
		// and — Redis unavailable with auth on — checks ownership, since
		// the order-processor does not check who cancels.
		v, perr := s.cfg.Store.Get(r.Context(), id)
		switch {
		case perr == nil:
			known, err = intake.Known{View: v}, nil
		case errors.Is(err, intake.ErrNotFound):
			// Redis and PostgreSQL both lack it: not found, as for GET.
		case errors.Is(perr, orderstore.ErrNotFound):
			// Redis down and PostgreSQL does not have the order yet: its
			// owner cannot be checked.
			problem.Write(w, r, problem.New(http.StatusServiceUnavailable, intake.TypeUnavailable,
				"the order's owner cannot be checked right now; retry shortly").WithRetryAfter(time.Second))
			return
		default:
			s.unavailable(w, r, perr)
			return
		}
	}
	status := schemas.StatusAccepted
	switch {
	case errors.Is(err, intake.ErrNotFound) || (err == nil && !s.owns(r, known)):
		problem.Write(w, r, problem.New(http.StatusNotFound, "urn:orderpipe:problem:order-not-found", "no order "+id))
		return
	case err != nil:
		// Redis unavailable, auth off: the order-processor decides (it
		// holds a cancel for an order it has not seen yet).
	default:
		status = known.View.Status
		switch status {
		case schemas.StatusConfirmed:
			p := problem.New(http.StatusConflict, "urn:orderpipe:problem:order-confirmed", "the order is confirmed: fulfilment owns it now")
			p.OrderID = id
			problem.Write(w, r, p)
			return
		case schemas.StatusRejected, schemas.StatusCancelled:
			writeCancel(w, id, status)
			return
		}
	}
	if err := s.intake.Cancel(r.Context(), id, subjectOf(r.Context()), "customer request"); err != nil {
		writeError(w, r, err)
		return
	}
	writeCancel(w, id, status)
}

func writeCancel(w http.ResponseWriter, id, status string) {
	w.Header().Set("Location", intake.Location(id))
	writeJSON(w, http.StatusAccepted, map[string]string{"orderId": id, "status": status})
}

// owns reports whether the caller may see the order: always with auth off;
// with auth on, when the order was placed under the caller's subject (or,
// once the intake's record has expired, is the caller's customer's).
func (s *Service) owns(r *http.Request, k intake.Known) bool {
	sub := subjectOf(r.Context())
	if sub == "" {
		return true
	}
	return k.Scope == sub || (k.Scope == "" && k.View.CustomerID == sub)
}

func orderID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := mux.Vars(r)["id"]
	u, err := uuid.Parse(id)
	if err != nil || u.String() != strings.ToLower(id) {
		problem.Write(w, r, problem.New(http.StatusNotFound, "urn:orderpipe:problem:order-not-found", "no order "+id+": order ids are UUIDs"))
		return "", false
	}
	return u.String(), true
}

func (s *Service) unavailable(w http.ResponseWriter, r *http.Request, _ error) {
	problem.Write(w, r, problem.New(http.StatusServiceUnavailable, intake.TypeUnavailable, "order status is unavailable right now; retry shortly").WithRetryAfter(time.Second))
}

func bodyError(err error, limit int) *problem.Problem {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return problem.New(http.StatusRequestEntityTooLarge, intake.TypeTooLarge, "the body is larger than "+strconv.Itoa(limit)+" bytes")
	}
	return problem.New(http.StatusBadRequest, intake.TypeMalformed, "the body could not be read: "+err.Error())
}

// writeError writes a *problem.Problem as is and anything else as a 500.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var p *problem.Problem
	if errors.As(err, &p) {
		problem.Write(w, r, p)
		return
	}
	problem.Write(w, r, problem.New(http.StatusInternalServerError, "", "internal error"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// OrderStore is the PostgreSQL read model of orders (orderstore.Reader).
// Its errors carry their RFC 9457 problem (400, 404 or 503).
type OrderStore interface {
	List(ctx context.Context, customerID, cursor string, pageSize int) (orderstore.Page, error)
	Get(ctx context.Context, orderID string) (orderview.View, error)
}

// listOrders is GET /api/v1/orders?customerId=&cursor=&pageSize=.
func (s *Service) listOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	customerID, pageSize := q.Get("customerId"), orderstore.DefaultPageSize
	var errs []problem.FieldError
	// The same rule as an order's customerId: a NUL or an invalid UTF-8
	// byte would otherwise reach PostgreSQL and come back as a 503.
	if why := ident.Check(customerID, 128); why != "" {
		errs = append(errs, problem.FieldError{Field: "customerId", Message: why})
	}
	if raw := q.Get("pageSize"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > orderstore.MaxPageSize {
			errs = append(errs, problem.FieldError{Field: "pageSize", Message: "must be an integer between 1 and 100"})
		}
		pageSize = n
	}
	if len(errs) > 0 {
		problem.Write(w, r, intake.Invalid(errs))
		return
	}
	if sub := subjectOf(r.Context()); sub != "" && sub != customerID {
		problem.Write(w, r, problem.New(http.StatusForbidden, auth.TypeForbidden, "you may list only your own orders"))
		return
	}
	page, err := s.cfg.Store.List(r.Context(), customerID, q.Get("cursor"), pageSize)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if page.Items == nil {
		page.Items = []orderview.View{}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, page)
}
