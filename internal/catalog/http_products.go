package catalog

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/orderpipe/orderpipe/internal/catalog/domain"
	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/pkg/problem"
)

// Problem types of the catalog.
const (
	TypeProductNotFound = "urn:orderpipe:problem:product-not-found"
	TypeCartNotFound    = "urn:orderpipe:problem:cart-not-found"
	TypeCartCheckedOut  = "urn:orderpipe:problem:cart-checked-out"
	TypeCartConflict    = "urn:orderpipe:problem:cart-conflict"
	TypeUnavailable     = intake.TypeUnavailable
	TypeUnauthorized    = "urn:orderpipe:problem:unauthorized"
	TypeForbidden       = "urn:orderpipe:problem:forbidden"
)

// Listing limits.
const (
	defaultPageSize = 20
	maxPageSize     = 200
)

// headers holds header values shared by every response (a map assignment
// of a prebuilt slice does not allocate).
type headers struct {
	json, cacheControl, noCache, warning []string
	status                               map[string][]string
}

func newHeaders(maxAge time.Duration) headers {
	secs := int(maxAge / time.Second)
	return headers{
		json:         []string{"application/json"},
		cacheControl: []string{"public, max-age=" + strconv.Itoa(secs)},
		noCache:      []string{"no-cache"},
		warning:      []string{`110 catalog-api "Response is Stale"`},
		status:       map[string][]string{srcHit: {"HIT"}, srcMiss: {"MISS"}, srcStale: {"STALE"}},
	}
}

// getProduct is GET /api/v1/products/{id}.
func (s *Service) getProduct(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if ok, _ := domain.ValidID(id); !ok {
		problem.Write(w, r, problem.New(http.StatusNotFound, TypeProductNotFound, "no product "+strconv.Quote(id)))
		return
	}
	start := time.Now()
	e, src, err := s.reader.product(id)
	if err != nil {
		s.readError(w, r, err, "product "+strconv.Quote(id))
		return
	}
	s.m.l1["product"][src].Inc()
	s.m.readTime["product"][src].Observe(time.Since(start).Seconds())
	s.writeEntry(w, r, e, src)
}

// listProducts is GET /api/v1/products.
func (s *Service) listProducts(w http.ResponseWriter, r *http.Request) {
	q, cursor, errs := s.parseListing(r)
	if len(errs) > 0 {
		problem.Write(w, r, intake.Invalid(errs))
		return
	}
	start := time.Now()
	key := listingKey(q, cursor)
	e, src, err := s.reader.listing(key, q)
	if err != nil {
		s.readError(w, r, err, "listing")
		return
	}
	s.m.l1["listing"][src].Inc()
	s.m.readTime["listing"][src].Observe(time.Since(start).Seconds())
	s.writeEntry(w, r, e, src)
}

// parseListing validates the listing query. Parameters it does not know
// (a page number from older clients, …) are ignored.
func (s *Service) parseListing(r *http.Request) (domain.Query, string, []problem.FieldError) {
	v := r.URL.Query()
	q := domain.Query{PageSize: defaultPageSize}
	var errs []problem.FieldError
	bad := func(f, m string) { errs = append(errs, problem.FieldError{Field: f, Message: m}) }
	if search := v.Get("search"); search != "" {
		switch q.Terms = domain.Terms(search); {
		case len(search) > domain.MaxQueryLength:
			bad("search", "must be at most 100 characters")
		case len(q.Terms) > domain.MaxQueryTerms:
			bad("search", "must have at most 8 words")
		}
	}
	if c := v.Get("categoryId"); c != "" {
		if ok, why := domain.ValidID(c); !ok {
			bad("categoryId", why)
		}
		q.CategoryID = c
	}
	if a := v.Get("isAvailable"); a != "" {
		b, err := strconv.ParseBool(a)
		if err != nil || (a != "true" && a != "false") {
			bad("isAvailable", "must be true or false")
		} else {
			q.IsAvailable = &b
		}
	}
	if ps := v.Get("pageSize"); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > maxPageSize {
			bad("pageSize", "must be an integer between 1 and 200")
		}
		q.PageSize = n
	}
	cursor := v.Get("cursor")
	if cursor != "" && len(errs) == 0 {
		after, err := s.reader.cursors.Decode(q.Filter(), cursor)
		if err != nil {
			bad("cursor", "is not a cursor this listing returned (cursors are bound to their search, categoryId and isAvailable)")
		}
		q.After = after
	}
	return q, cursor, errs
}

func listingKey(q domain.Query, cursor string) string {
	var b strings.Builder
	b.Grow(64 + len(cursor))
	for _, t := range q.Terms {
		b.WriteString(t)
		b.WriteByte(' ')
	}
	b.WriteByte(0)
	b.WriteString(q.CategoryID)
	b.WriteByte(0)
	if q.IsAvailable != nil {
		b.WriteString(strconv.FormatBool(*q.IsAvailable))
	}
	b.WriteByte(0)
	b.WriteString(cursor)
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(q.PageSize))
	return b.String()
}

// writeEntry writes a cached body with its validators, or 304 when the
// client's copy is current.
func (s *Service) writeEntry(w http.ResponseWriter, r *http.Request, e *entry, src string) {
	h := w.Header()
	h["Etag"] = e.etagHdr
	h["X-Cache-Status"] = s.hdr.status[src]
	if src == srcStale {
		h["Warning"] = s.hdr.warning
		h["Cache-Control"] = s.hdr.noCache
		h["Age"] = []string{strconv.Itoa(int(time.Since(e.fetched) / time.Second))}
	} else {
		h["Cache-Control"] = s.hdr.cacheControl
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, e.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = s.hdr.json
	h["Content-Length"] = e.lenHdr
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.body) //nolint:gosec // G705: JSON we encoded ourselves, served as application/json
	}
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatches(header, etag string) bool {
	if header == etag {
		return true
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// readError answers a failed read: 404, or 503 with Retry-After when Redis
// is unavailable and L1 had nothing to serve.
func (s *Service) readError(w http.ResponseWriter, r *http.Request, err error, what string) {
	if errors.Is(err, errNotFound) {
		problem.Write(w, r, problem.New(http.StatusNotFound, TypeProductNotFound, "no "+what))
		return
	}
	s.m.unavailable.Inc()
	if !errors.Is(err, errBreakerOpen) {
		s.log.WarnContext(r.Context(), "catalog read failed", "what", what, "error", err)
	}
	problem.Write(w, r, problem.New(http.StatusServiceUnavailable, TypeUnavailable, "the catalog store is unavailable; retry shortly").WithRetryAfter(s.reader.retryAfter()))
}
