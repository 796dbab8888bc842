package chaos

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Print writes the run's figures and verdict.
func (r *Result) Print(w io.Writer, cfg Config) {
	rep, c := &r.Report, r.Client
	say(w, "\n== chaos run: %s ==\n", verdict(r))
	say(w, "traffic %s, settled %s after it; load average at the end of traffic %s\n", r.Traffic.Round(time.Second), r.Settle.Round(time.Second), r.Load)
	say(w, "keys %d (sent %d), acknowledged %d, landed without an acknowledgement %d\n", rep.Keys, rep.Sent, rep.Acked, rep.UnackedLanded)
	say(w, "outcomes: confirmed %d, rejected %d, cancelled %d\n", rep.Confirmed, rep.Rejected, rep.Cancelled)
	say(w, "violations: duplicates %d, lost %d, pending %d, phantom %d, oversold %d, negative stock %d, stock mismatch %d, dangling %d, "+
		"PostgreSQL %d, Redis status %d, Redis catalog %d, events %d, DLQ (valid input) %d; conflicts recorded %d (expected)\n",
		rep.Duplicates, rep.Lost, rep.Pending, rep.Phantom, rep.Oversold, rep.NegativeStock, rep.StockMismatch, rep.Dangling,
		rep.RowMismatch, rep.ViewMismatch, rep.CatalogMismatch, rep.EventMismatch, rep.DLQValid, rep.Conflicts)
	say(w, "client: %d requests; 2xx %d, 409 %d, 422 %d, 429 %d, 5xx %d, timeouts %d, connection errors %d, keys given up %d, unexpected answers %d; cancels of acknowledged orders answered 404 %d\n",
		c.Requests.Load(), c.Status2xx.Load(), c.Status409.Load(), c.Status422.Load(), c.Status429.Load(), c.Status5xx.Load(),
		c.Timeouts.Load(), c.ConnErrors.Load(), c.GaveUp.Load(), c.Unexpected.Load(), c.Cancel404.Load())
	all, burst := c.Latency(false), c.Latency(true)
	say(w, "ingress latency per POST: p50 %s p95 %s p99 %s (burst: p50 %s p95 %s p99 %s)\n",
		ms(all.P50), ms(all.P95), ms(all.P99), ms(burst.P50), ms(burst.P95), ms(burst.P99))
	normal, peak, burstMean := r.Throughput(cfg.Workload)
	say(w, "accepted orders/s: normal %.0f, burst mean %.0f, best second %d\n", normal, burstMean, peak)
	say(w, "end to end (first send → OrderPlaced): p50 %s p99 %s; → outcome: p50 %s p99 %s\n",
		ms(rep.PlacedLatency.P50), ms(rep.PlacedLatency.P99), ms(rep.OutcomeLatency.P50), ms(rep.OutcomeLatency.P99))
	drain := "not within the traffic window"
	if r.Lag.Drain >= 0 {
		drain = r.Lag.Drain.Round(time.Second).String()
	}
	say(w, "peak consumer lag: order-processor %d records (t=%.0fs), inventory-processor %d, order-sink %d; backlog drained (lag ≤ %d) %s after the burst\n",
		r.Lag.PeakOrder, r.Lag.PeakOrderAt.Seconds(), r.Lag.PeakInventory, r.Lag.PeakSink, r.Lag.DrainBelow, drain)
	say(w, "faults: %s\n", r.FaultSummary())
	for _, f := range r.Faults {
		if f.Err != "" {
			say(w, "  fault FAILED at t=%.0fs %s %s: %s\n", f.At.Seconds(), f.Class, f.Target, f.Err)
		}
	}
	if len(r.Missing) > 0 {
		say(w, "fault classes never injected: %s\n", strings.Join(r.Missing, ", "))
	}
	for _, s := range r.Crashes {
		say(w, "  crash: %s\n", s)
	}
	for _, s := range r.Unexpected {
		say(w, "  unexpected answer: %s\n", s)
	}
	for _, s := range rep.Samples {
		say(w, "  violation: %s\n", s)
	}
}

func verdict(r *Result) string {
	if r.OK() {
		return "PASS"
	}
	return "FAIL"
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.0fms", float64(d.Microseconds())/1000)
}

// Throughput: accepted keys per second outside the burst (mean), the best
// second, and the burst's mean.
func (r *Result) Throughput(w Workload) (normal float64, peak int64, burst float64) {
	per := r.Client.AckedPerSecond()
	bStart, bEnd := int(w.BurstAt/time.Second), int(w.BurstEnd()/time.Second)
	var nSum, bSum int64
	var nN, bN int
	for i, v := range per {
		peak = max(peak, v)
		switch {
		case w.BurstFor > 0 && i >= bStart && i < bEnd:
			bSum += v
			bN++
		case time.Duration(i)*time.Second < w.Duration:
			nSum += v
			nN++
		}
	}
	if nN > 0 {
		normal = float64(nSum) / float64(nN)
	}
	if bN > 0 {
		burst = float64(bSum) / float64(bN)
	}
	return normal, peak, burst
}

// FaultSummary counts the faults per class.
func (r *Result) FaultSummary() string {
	n := map[string]int{}
	for _, f := range r.Faults {
		n[f.Class]++
	}
	var parts []string
	for c, k := range n {
		parts = append(parts, fmt.Sprintf("%s ×%d", c, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// MarkdownRow is the run as a row of docs/reliability.md's table.
func (r *Result) MarkdownRow(w Workload) string {
	rep, c := &r.Report, r.Client
	all := c.Latency(false)
	normal, peak, burst := r.Throughput(w)
	drain := "—"
	if r.Lag.Drain >= 0 {
		drain = r.Lag.Drain.Round(time.Second).String()
	}
	return fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s | %.0f / %.0f / %d | %s / %s / %s | %s / %s | %d | %s | %s |",
		verdict(r), rep.Keys, rep.Acked, rep.Confirmed, rep.Rejected, rep.Cancelled, rep.Duplicates, rep.Lost+rep.Pending, rep.Oversold,
		rep.DLQValid, rep.Conflicts, r.FaultSummary(), normal, burst, peak, ms(all.P50), ms(all.P95), ms(all.P99),
		ms(rep.PlacedLatency.P50), ms(rep.PlacedLatency.P99), r.Lag.PeakOrder, drain, r.Load)
}
