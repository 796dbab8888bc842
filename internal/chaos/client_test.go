package chaos

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

// A slow ingress holds arrivals back (one key in flight at a time): the
// traffic must still end at the duration, not after Rate × Duration keys.
func TestClientStopsAtTheDurationWhenArrivalsAreHeldBack(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"orderId":"` + schemas.OrderID("customer-0", r.Header.Get("Idempotency-Key")) + `"}`))
	}))
	defer func() { srv.CloseClientConnections(); srv.Close() }()
	products := []Product{{ID: "a", Price: 1, Initial: 10}, {ID: "b", Price: 2, Initial: 10}, {ID: "c", Price: 3, Initial: 10}}
	c := &Client{W: Workload{Duration: 300 * time.Millisecond, Rate: 1000, Timeout: time.Second, GiveUp: time.Second,
		MaxInFlight: 1, Customers: 1, Seed: 1}, Ingress: []string{srv.URL}, Products: products, Ledger: &Ledger{}, RunID: "t"}
	c.Run(context.Background())
	if n := len(c.Ledger.Orders()); n == 0 || n >= 100 {
		t.Fatalf("%d keys sent in a 300 ms run with one key in flight at a time (50 ms each), want a handful", n)
	}
	if c.Stats.Unexpected.Load() != 0 {
		t.Fatalf("unexpected answers: %v", c.Stats.Samples())
	}
}
