package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestOnlyLoopbackTargets(t *testing.T) {
	for url, ok := range map[string]bool{
		"http://127.0.0.1:8081": true, "http://localhost:1": true, "http://[::1]:80": true, "http://127.9.9.9:80": true,
		"http://10.0.0.1:80": false, "http://example.com": false, "http://192.168.1.1:8080": false, "ftp://127.0.0.1": false, "": false,
	} {
		if err := loopbackOnly(url); (err == nil) != ok {
			t.Errorf("loopbackOnly(%q) = %v, want ok=%v", url, err, ok)
		}
	}
}

// recorder counts what a bare target received.
type recorder struct {
	mu    sync.Mutex
	keys  map[string]int
	lines map[int]int
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var o struct {
		Lines []struct {
			ProductID string `json:"productId"`
			Quantity  int    `json:"quantity"`
		} `json:"lines"`
	}
	if err := json.Unmarshal(b, &o); err != nil || r.Header.Get("Idempotency-Key") == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.keys[r.Header.Get("Idempotency-Key")]++
	rc.lines[len(o.Lines)]++
	rc.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func TestModesAndRetryStorm(t *testing.T) {
	for _, mode := range []string{ModeConcurrency, ModeRate} {
		t.Run(mode, func(t *testing.T) {
			rc := &recorder{keys: map[string]int{}, lines: map[int]int{}}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			cfg := Config{URL: srv.URL, Mode: mode, Rate: 4000, Concurrency: 8, Requests: 600, Duration: 30 * time.Second,
				Products: 100, Skew: 1.2, Customers: 50, RetryShare: 0.3, Concurrent: 0.5, Seed: 7}
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Orders != 600 || res.Sent != res.Orders+res.Resends || res.ByStatus[202] != res.Sent || res.Latency.TotalCount() != res.Sent {
				t.Fatalf("orders %d sent %d resends %d statuses %v samples %d", res.Orders, res.Sent, res.Resends, res.ByStatus, res.Latency.TotalCount())
			}
			if res.Resends < 120 || res.Resends > 240 {
				t.Fatalf("%d resends for a 30%% retry share of 600", res.Resends)
			}
			dup := 0
			for _, n := range rc.keys {
				if n > 1 {
					dup++
				}
			}
			if int64(len(rc.keys)) != res.Orders || int64(dup) != res.Resends {
				t.Fatalf("%d distinct keys (%d resent), want %d (%d)", len(rc.keys), dup, res.Orders, res.Resends)
			}
			for n := range rc.lines {
				if n < 1 || n > 5 {
					t.Fatalf("an order with %d lines", n)
				}
			}
			if rc.lines[1] <= rc.lines[5] {
				t.Fatalf("line mix %v: small orders should dominate", rc.lines)
			}
		})
	}
}

func TestBoundedByDuration(t *testing.T) {
	srv := httptest.NewServer(BareHandler())
	defer srv.Close()
	start := time.Now()
	res, err := Run(context.Background(), Config{URL: srv.URL, Mode: ModeRate, Rate: 200, Concurrency: 4, Duration: 300 * time.Millisecond,
		Products: 10, Skew: 1.1, Customers: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Latency.TotalCount() != res.Sent || res.ByStatus[202] != res.Sent {
		t.Fatalf("requests in flight at the deadline were not counted: sent %d, answered %v", res.Sent, res.ByStatus)
	}
	if time.Since(start) > 5*time.Second || res.Sent == 0 || res.Sent > 100 {
		t.Fatalf("a 300ms run at 200/s sent %d in %s", res.Sent, time.Since(start))
	}
}
