package orderstore

import (
	"errors"
	"net/http"
	"time"

	"github.com/orderpipe/orderpipe/pkg/problem"
)

// Expected outcomes of a read. Each error the reader returns matches one of
// them with errors.Is, and also carries the RFC 9457 problem to answer
// with (errors.As(err, &p) for a *problem.Problem): 400, 404 or 503 — a
// client's mistake is never a 5xx.
var (
	ErrBadCursor   = errors.New("orderstore: invalid cursor")
	ErrBadPageSize = errors.New("orderstore: pageSize out of range")
	ErrNotFound    = errors.New("orderstore: order not found")
	ErrUnavailable = errors.New("orderstore: PostgreSQL unavailable")
)

// Problem types.
const (
	TypeInvalidCursor = "urn:orderpipe:problem:invalid-cursor"
	TypeInvalidQuery  = "urn:orderpipe:problem:invalid-request"
	TypeNotFound      = "urn:orderpipe:problem:order-not-found"
	TypeUnavailable   = "urn:orderpipe:problem:unavailable"
)

type readError struct {
	kind  error
	p     *problem.Problem
	cause error
}

func (e *readError) Error() string {
	if e.cause != nil {
		return e.kind.Error() + ": " + e.cause.Error()
	}
	return e.kind.Error()
}

func (e *readError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.p, e.cause}
	}
	return []error{e.kind, e.p}
}

func badCursor() error {
	return &readError{kind: ErrBadCursor, p: problem.New(http.StatusBadRequest, TypeInvalidCursor,
		"cursor is not one this API issued for this customerId; start again without a cursor")}
}

func badPageSize() error {
	p := problem.New(http.StatusBadRequest, TypeInvalidQuery, "pageSize must be an integer between 1 and 100")
	p.Errors = []problem.FieldError{{Field: "pageSize", Message: "must be an integer between 1 and 100"}}
	return &readError{kind: ErrBadPageSize, p: p}
}

func notFound(id string) error {
	return &readError{kind: ErrNotFound, p: problem.New(http.StatusNotFound, TypeNotFound, "no order "+id)}
}

func unavailable(cause error) error {
	return &readError{kind: ErrUnavailable, cause: cause,
		p: problem.New(http.StatusServiceUnavailable, TypeUnavailable, "orders cannot be read right now; retry shortly").WithRetryAfter(time.Second)}
}
