// Package problem writes RFC 9457 problem details (application/problem+json),
// the one error shape every orderpipe HTTP API answers with.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem document with orderpipe's extensions.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	OrderID  string       `json:"orderId,omitempty"`

	retryAfter time.Duration
}

// New returns a problem with the standard title for status. Type is a
// stable URI naming the problem kind ("about:blank" when empty).
func New(status int, typ, detail string) *Problem {
	if typ == "" {
		typ = "about:blank"
	}
	return &Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail}
}

// WithRetryAfter sets the Retry-After header the problem is written with.
func (p *Problem) WithRetryAfter(d time.Duration) *Problem {
	p.retryAfter = d
	return p
}

// RetryAfter returns the Retry-After duration, zero if none.
func (p *Problem) RetryAfter() time.Duration { return p.retryAfter }

// Error makes a Problem usable as an error.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// Write sends p on w.
func Write(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	if p.retryAfter > 0 {
		secs := int(p.retryAfter.Round(time.Second) / time.Second)
		if secs < 1 {
			secs = 1
		}
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// NotFound is the handler for unknown routes.
func NotFound(w http.ResponseWriter, r *http.Request) {
	Write(w, r, New(http.StatusNotFound, "", "no such resource: "+r.URL.Path))
}

// MethodNotAllowed is the handler for known routes with a wrong method.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	Write(w, r, New(http.StatusMethodNotAllowed, "", "method "+r.Method+" is not allowed on "+r.URL.Path))
}
