package loadgen

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// Summary writes a human-readable report of r.
func (r Result) Summary(w io.Writer, cfg Config) {
	secs := r.Elapsed.Seconds()
	fmt.Fprintf(w, "target       %s (%s mode", cfg.URL, cfg.Mode)
	if cfg.Mode == ModeRate {
		fmt.Fprintf(w, ", %.0f orders/s", cfg.Rate)
	}
	fmt.Fprintf(w, ", concurrency %d)\n", cfg.Concurrency)
	fmt.Fprintf(w, "elapsed      %s\n", r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "orders       %d (+%d resends with the same key)\n", r.Orders, r.Resends)
	fmt.Fprintf(w, "requests     %d  (%.0f/s)\n", r.Sent, float64(r.Sent)/secs)
	fmt.Fprintf(w, "accepted     %d  (%.0f/s 2xx)\n", r.Accepted(), float64(r.Accepted())/secs)
	codes := make([]int, 0, len(r.ByStatus))
	for code := range r.ByStatus {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		fmt.Fprintf(w, "  %d %-22s %d\n", code, http.StatusText(code), r.ByStatus[code])
	}
	if r.Transport > 0 {
		fmt.Fprintf(w, "  no answer (transport)     %d\n", r.Transport)
	}
	q := func(p float64) time.Duration { return time.Duration(r.Latency.ValueAtQuantile(p)) * time.Microsecond }
	fmt.Fprintf(w, "latency      p50 %s  p95 %s  p99 %s  max %s  (%d samples)\n",
		q(50), q(95), q(99), time.Duration(r.Latency.Max())*time.Microsecond, r.Latency.TotalCount())
}

// Quantile returns the latency at percentile p (0..100).
func (r Result) Quantile(p float64) time.Duration {
	return time.Duration(r.Latency.ValueAtQuantile(p)) * time.Microsecond
}

// BareHandler answers every request 202 after reading its body, with no
// other work: the ceiling a real handler is compared against.
func BareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"orderId":"00000000-0000-0000-0000-000000000000","status":"ACCEPTED"}`+"\n")
	})
}
