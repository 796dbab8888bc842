package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/lag"
)

// LagOptions select what `orderpipe lag` reports and how.
type LagOptions struct {
	Groups   []string      // empty: every group
	JSON     bool          // JSON instead of a table
	Watch    time.Duration // > 0: repeat every Watch until ctx ends
	Serve    string        // address of a Prometheus exporter of the same figures ("" off)
	Interval time.Duration // exporter refresh interval
}

// runLag is `orderpipe lag`: per group, topic and partition the committed
// offset, the end (last stable) offset, the lag in records and seconds.
func runLag(ctx context.Context, args []string, out io.Writer) error {
	var kc config.Kafka
	var o LagOptions
	s := config.NewSet("orderpipe lag", nil)
	kc.Register(s)
	s.List(&o.Groups, "LAG_GROUPS", "group", "", "consumer groups to report, comma-separated (default: all)")
	s.Bool(&o.JSON, "LAG_JSON", "json", false, "print JSON (one array per round) instead of a table")
	s.Duration(&o.Watch, "LAG_WATCH", "watch", 0, "repeat every this long until interrupted (0: once)")
	s.String(&o.Serve, "LAG_SERVE", "serve", "", "serve the figures as Prometheus gauges (orderpipe_consumer_lag_records|seconds) on this address, e.g. :9308, until interrupted")
	s.Duration(&o.Interval, "LAG_INTERVAL", "interval", 15*time.Second, "how often --serve recomputes the gauges")
	if err := s.Parse(args); err != nil {
		s.Usage(out)
		return err
	}
	if err := kc.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return Lag(ctx, kc, o, out)
}

// Lag reports consumer lag as configured by o.
func Lag(ctx context.Context, kc config.Kafka, o LagOptions, out io.Writer) error {
	cl, err := kafka.NewClient(kc, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	probe := func(opts ...kgo.Opt) (*kgo.Client, error) { return kafka.NewClient(kc, nil, opts...) }
	snap := func() ([]lag.Partition, error) {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return lag.Snapshot(c, adm, probe, o.Groups, time.Now())
	}
	if o.Serve != "" {
		return serveLag(ctx, o, snap, out)
	}
	for {
		ps, err := snap()
		if err != nil {
			return err
		}
		if err := printLag(out, ps, o.JSON); err != nil {
			return err
		}
		if o.Watch <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Watch):
		}
		if !o.JSON {
			fmt.Fprintln(out)
		}
	}
}

func printLag(out io.Writer, ps []lag.Partition, asJSON bool) error {
	if asJSON {
		if ps == nil {
			ps = []lag.Partition{}
		}
		return json.NewEncoder(out).Encode(ps)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tLAG SECONDS\t")
	var total int64
	for _, p := range ps {
		committed := "-"
		if p.Committed >= 0 {
			committed = strconv.FormatInt(p.Committed, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%.1f\t\n", p.Group, p.Topic, p.Partition, committed, p.End, p.Records, p.Seconds)
		total += p.Records
	}
	fmt.Fprintf(tw, "\t\t\t\tTOTAL\t%d\t\t\n", total)
	return tw.Flush()
}

// serveLag exports the snapshot as the lag gauges, recomputed every
// o.Interval; partitions that disappear are dropped.
func serveLag(ctx context.Context, o LagOptions, snap func() ([]lag.Partition, error), out io.Writer) error {
	reg := prometheus.NewRegistry()
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "orderpipe_lag_exporter_up", Help: "1 when the last lag snapshot succeeded."})
	reg.MustRegister(up)
	if _, err := lag.New(reg, ""); err != nil {
		return err
	}
	gauges := map[string]*lag.Gauges{}
	type key struct {
		group, topic string
		part         int32
	}
	seen := map[key]bool{}
	refresh := func() {
		ps, err := snap()
		if err != nil {
			up.Set(0)
			fmt.Fprintf(out, "lag: %v\n", err)
			return
		}
		up.Set(1)
		now := map[key]bool{}
		for _, p := range ps {
			g := gauges[p.Group]
			if g == nil {
				g, _ = lag.New(reg, p.Group) // the families are registered above
				gauges[p.Group] = g
			}
			g.Set(p.Topic, p.Partition, p.Records, p.Seconds)
			now[key{p.Group, p.Topic, p.Partition}] = true
		}
		for k := range seen {
			if !now[k] {
				gauges[k.group].Forget(k.topic, k.part)
			}
		}
		seen = now
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.Serve)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(out, "serving consumer lag on http://%s/metrics\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	interval := o.Interval
	if interval <= 0 {
		interval = 15 * time.Second
	}
	refresh()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		case err := <-errc:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-t.C:
			refresh()
		}
	}
}
