package catalog

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// Every route catalog-api mounts is in openapi.json and every operation of
// the document is mounted; every $ref resolves.
func TestRoutesMatchOpenAPI(t *testing.T) {
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	r := mux.NewRouter()
	(&Service{}).Routes(r)
	mounted := map[string]bool{}
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err1 := route.GetPathTemplate()
		methods, err2 := route.GetMethods()
		if err1 == nil && err2 == nil {
			for _, m := range methods {
				mounted[strings.ToLower(m)+" "+tpl] = true
			}
		}
		return nil
	})
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
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

	var raw map[string]any
	_ = json.Unmarshal(OpenAPI, &raw)
	for _, m := range regexp.MustCompile(`"\$ref": "#/([^"]+)"`).FindAllStringSubmatch(string(OpenAPI), -1) {
		var cur any = raw
		for _, part := range strings.Split(m[1], "/") {
			mm, _ := cur.(map[string]any)
			cur = mm[part]
		}
		if cur == nil {
			t.Errorf("$ref #/%s does not resolve", m[1])
		}
	}
}
