package ingress

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/orderpipe/orderpipe/internal/orderstore"
	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/pkg/problem"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// pgLikeStore fails the way PostgreSQL does for text it cannot store (a
// NUL, invalid UTF-8): as unavailable.
type pgLikeStore struct{}

func (pgLikeStore) List(context.Context, string, string, int) (orderstore.Page, error) {
	return orderstore.Page{}, problem.New(http.StatusServiceUnavailable, "urn:orderpipe:problem:unavailable", "store refused the text")
}

func (pgLikeStore) Get(context.Context, string) (orderview.View, error) {
	return orderview.View{}, orderstore.ErrNotFound
}

// TestListOrdersRefusesBadCustomerIDs is the regression test of a
// schemathesis finding: GET /api/v1/orders?customerId=%00… reached
// PostgreSQL and came back 503. A customerId is checked by the order
// body's rule (pkg/ident) and refused with 400 before any store call.
func TestListOrdersRefusesBadCustomerIDs(t *testing.T) {
	cfg := testConfig(testenv.Kafka(t).Config, redisConfig(testenv.Redis(t)))
	cfg.Store = pgLikeStore{}
	h := startIngress(t, cfg)
	for _, id := range []string{"\x00J\xf2\xa1\xa6\x92", "a b", "bad\xffutf8", "a\u202eb", string(make([]byte, 200))} {
		res := h.do("GET", "/api/v1/orders?customerId="+url.QueryEscape(id), "", nil)
		if res.Status != http.StatusBadRequest || res.Header.Get("Content-Type") != problem.ContentType {
			t.Errorf("customerId %q: %d %s %s, want 400 problem", id, res.Status, res.Header.Get("Content-Type"), res.Raw)
		}
	}
}
