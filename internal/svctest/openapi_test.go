package svctest

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/gorilla/mux"
)

type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCheckRoutesDocumented(t *testing.T) {
	routes := func(r *mux.Router) {
		r.HandleFunc("/api/v1/orders", http.NotFound).Methods(http.MethodPost)
		r.HandleFunc("/api/v1/orders/{orderId}", http.NotFound).Methods(http.MethodGet)
		r.PathPrefix("/api/v1/admin").Subrouter().HandleFunc("/x", http.NotFound).Methods(http.MethodPut)
	}
	agree := `{"paths":{"/api/v1/orders":{"post":{}},"/api/v1/orders/{orderId}":{"get":{}},"/api/v1/admin/x":{"put":{}}}}`
	rec := &recorder{TB: t}
	CheckRoutesDocumented(rec, routes, []byte(agree))
	if len(rec.errs) != 0 {
		t.Fatalf("agreeing routes and document: %v", rec.errs)
	}
	differ := `{"paths":{"/api/v1/orders":{"post":{},"delete":{}},"/api/v1/admin/x":{"put":{}}}}`
	rec = &recorder{TB: t}
	CheckRoutesDocumented(rec, routes, []byte(differ))
	slices.Sort(rec.errs)
	want := []string{"openapi.json documents delete /api/v1/orders, which is not mounted", "route get /api/v1/orders/{orderId} is not in openapi.json"}
	if !slices.Equal(rec.errs, want) {
		t.Fatalf("errors %q, want %q", rec.errs, want)
	}
}
