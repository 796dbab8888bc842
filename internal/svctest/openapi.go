package svctest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// CheckRoutesDocumented fails t for every route routes mounts that the
// OpenAPI document doc (JSON) has no operation for, and for every
// operation of doc that is not mounted. Routes are compared as
// "<lower-case method> <path template>".
func CheckRoutesDocumented(t testing.TB, routes func(*mux.Router), doc []byte) {
	t.Helper()
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	r := mux.NewRouter()
	routes(r)
	mounted := map[string]bool{}
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err1 := route.GetPathTemplate()
		methods, err2 := route.GetMethods()
		if err1 != nil || err2 != nil {
			return nil //nolint:nilerr // subrouter prefixes have no methods
		}
		for _, m := range methods {
			mounted[strings.ToLower(m)+" "+tpl] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, ops := range d.Paths {
		for method := range ops {
			documented[method+" "+path] = true
		}
	}
	for k := range mounted {
		if !documented[k] {
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	for k := range documented {
		if !mounted[k] {
			t.Errorf("openapi.json documents %s, which is not mounted", k)
		}
	}
}
