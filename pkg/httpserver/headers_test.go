package httpserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLimitHeaders(t *testing.T) {
	t.Parallel()
	h := limitHeaders(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	for _, tc := range []struct {
		pad    int
		status int
	}{{0, 204}, {MaxHeaderBytes - 1024, 204}, {MaxHeaderBytes, 431}} {
		r := httptest.NewRequest("GET", "/api/v1/products", nil)
		r.Header.Set("X-Pad", strings.Repeat("a", tc.pad))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("pad %d: %d; want %d", tc.pad, w.Code, tc.status)
		}
		if tc.status == 431 && w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("431 Content-Type %q", w.Header().Get("Content-Type"))
		}
	}
}
