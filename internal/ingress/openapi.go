package ingress

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the ingress's OpenAPI 3.1 document (openapi.json in this
// directory), served at /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(OpenAPI)
}
