package catalog

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/orderpipe/orderpipe/internal/svctest"
)

// Every route catalog-api mounts is in openapi.json and every operation of
// the document is mounted; every $ref resolves.
func TestRoutesMatchOpenAPI(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	svctest.CheckRoutesDocumented(t, (&Service{}).Routes, OpenAPI)

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
