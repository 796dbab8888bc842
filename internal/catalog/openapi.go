package catalog

import (
	_ "embed"
	"net/http"
)

// OpenAPI is catalog-api's OpenAPI 3.1 document.
//
//go:embed openapi.json
var OpenAPI []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	if r.Method != http.MethodHead {
		_, _ = w.Write(OpenAPI)
	}
}
