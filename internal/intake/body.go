package intake

import (
	"mime"
	"net/http"
	"strings"

	"github.com/orderpipe/orderpipe/pkg/problem"
)

// CheckContentType refuses a declared non-JSON body with 415: the media
// type must be application/json or end in +json (parameters such as
// charset are allowed). A missing Content-Type is read as JSON (older
// clients send none).
func CheckContentType(r *http.Request) *problem.Problem {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return problem.New(http.StatusUnsupportedMediaType, TypeUnsupportedMed, "the body must be application/json, not "+ct)
}
