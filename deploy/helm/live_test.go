package helm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/catalog"
	"github.com/orderpipe/orderpipe/internal/devstack"
	"github.com/orderpipe/orderpipe/internal/loadgen"
	"github.com/orderpipe/orderpipe/pkg/kafka"
)

// syncBuffer is the dev stack's output, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestDashboardsAndAlertsOnRealPrometheus runs the four services (`orderpipe
// dev`: embedded Kafka, real PostgreSQL and Redis), sends orders and catalog
// reads through the single base URL, dead-letters one inventory command, and
// has a real Prometheus (Debian package, loopback, project-local data dir)
// scrape every service and evaluate the alert rules. Then every dashboard
// panel query, every alert expression, and every series selector inside the
// alert expressions, and the lag query KEDA scales each processor on must
// return series: no panel, alert or autoscaler names a metric or label that
// does not exist.
func TestDashboardsAndAlertsOnRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the dev stack and Prometheus")
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		promtool(t) // installs the prometheus package
		if promBin, err = exec.LookPath("prometheus"); err != nil {
			t.Fatal(err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(filepath.Join(root, ".local"), "sre-prometheus-test-")
	if err != nil {
		if err := os.MkdirAll(filepath.Join(root, ".local"), 0o755); err != nil {
			t.Fatal(err)
		}
		if dir, err = os.MkdirTemp(filepath.Join(root, ".local"), "sre-prometheus-test-"); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Chmod(dir, 0o755) // PostgreSQL runs as the postgres user
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The stack.
	base := freeAddr(t)
	var out syncBuffer
	stackCtx, stopStack := context.WithCancel(ctx)
	stackDone := make(chan error, 1)
	go func() {
		stackDone <- devstack.Run(stackCtx, devstack.Options{Addr: base, Dir: filepath.Join(dir, "dev"), KafkaAddr: "127.0.0.1:0", Partitions: 3, Out: &out, Seed: catalog.SeedDemo})
	}()
	t.Cleanup(func() {
		stopStack()
		select {
		case err := <-stackDone:
			if err != nil && ctx.Err() == nil {
				t.Logf("dev stack: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("dev stack did not stop")
		}
	})
	baseURL := "http://" + base
	for {
		if ctx.Err() != nil {
			t.Fatalf("dev stack not up:\n%s", out.String())
		}
		select {
		case err := <-stackDone:
			t.Fatalf("dev stack stopped: %v\n%s", err, out.String())
		default:
		}
		if code, _ := get(ctx, baseURL+"/health/ready"); code == http.StatusOK {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	brokers := regexp.MustCompile(`embedded kfake broker on (\S+)`).FindStringSubmatch(out.String())
	if brokers == nil {
		t.Fatalf("no broker address in:\n%s", out.String())
	}

	// Prometheus: every service through the router's /services/<name>/metrics.
	promAddr := freeAddr(t)
	alerts, err := filepath.Abs("orderpipe/files/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	// scrape_timeout ≤ scrape_interval: 1–2 s failed scrapes of the
	// order-processor's -race build at load 35+ and left it without series.
	fmt.Fprintf(&cfg, "global: {scrape_interval: 5s, scrape_timeout: 5s, evaluation_interval: 1s}\nrule_files: [%q]\nscrape_configs:\n", alerts)
	for _, svc := range []string{"ingress", "catalog-api", "order-processor", "inventory-processor"} {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    metrics_path: /services/%s/metrics\n    static_configs: [{targets: [%q]}]\n", svc, svc, base)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var promOut syncBuffer
	prom := exec.Command(promBin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "prometheus"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	prom.Stdout, prom.Stderr = &promOut, &promOut
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = prom.Process.Kill()
		_ = prom.Wait()
	})
	promURL := "http://" + promAddr

	// Traffic: orders, catalog reads, one dead letter.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = loadgen.Run(loadCtx, loadgen.Config{URL: baseURL, Mode: loadgen.ModeRate, Rate: 40, Concurrency: 8,
			Requests: 4000, Duration: 2 * time.Minute, Products: catalog.DemoProducts, Skew: 1.1, Customers: 100, Seed: 1, Timeout: 10 * time.Second})
	})
	wg.Go(func() {
		for loadCtx.Err() == nil {
			_, _ = get(loadCtx, baseURL+"/api/v1/products?pageSize=5")
			time.Sleep(100 * time.Millisecond)
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kafka.TopicNames("").InventoryCommands, Key: []byte("no-such-product"), Value: []byte("not a command")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Every query must return series: the dashboards', the alerts', and
	// the one KEDA scales each processor on (prometheus trigger).
	queries := append(dashboardQueries(t), kedaQueries(t)...)
	for _, r := range loadRules(t).Groups {
		for _, rule := range r.Rules {
			if rule.Alert == "" {
				continue
			}
			for _, sel := range selectors(rule.Expr) {
				queries = append(queries, query{"alert " + rule.Alert + " selector", sel, true})
			}
			queries = append(queries, query{"alert " + rule.Alert + " expression", rule.Expr, false})
		}
	}
	var missing []string
	deadline := time.Now().Add(150 * time.Second)
	for {
		missing = missing[:0]
		for _, q := range queries {
			n, err := promQuery(ctx, promURL, q.expr)
			if err != nil {
				t.Fatalf("%s: %s: %v", q.what, q.expr, err)
			}
			if n == 0 && q.mustHaveSeries {
				missing = append(missing, q.what+": "+q.expr)
			}
		}
		if len(missing) == 0 || ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	stopLoad()
	wg.Wait()
	if len(missing) > 0 {
		_, up := get(context.Background(), promURL+"/api/v1/targets?state=active")
		code, _ := get(context.Background(), baseURL+"/services/ingress/metrics")
		t.Fatalf("queries without series:\n  %s\ntargets: %s\n/services/ingress/metrics: %d\nprometheus: %s", strings.Join(missing, "\n  "), up, code, promOut.String())
	}
}

// kedaQueries are the lag queries of the processors' ScaledObjects
// (keda.trigger prometheus, default values: no topic prefix, as the dev
// stack runs).
func kedaQueries(t *testing.T) []query {
	t.Helper()
	var qs []query
	for _, m := range render(t, "--set", "orderProcessor.keda.enabled=true", "--set", "inventoryProcessor.keda.enabled=true") {
		so, ok := m.Obj.(*ScaledObject)
		if !ok {
			continue
		}
		for _, tr := range so.Spec.Triggers {
			if tr.Type != "prometheus" || tr.Metadata["query"] == "" {
				t.Fatalf("%s: trigger %+v", m.Name, tr)
			}
			qs = append(qs, query{"KEDA ScaledObject " + m.Name, tr.Metadata["query"], true})
		}
	}
	if len(qs) != 2 {
		t.Fatalf("%d KEDA queries, want one per processor", len(qs))
	}
	return qs
}

type query struct {
	what, expr     string
	mustHaveSeries bool
}

// dashboardQueries are the expressions of every panel of every dashboard.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	files, err := filepath.Glob("orderpipe/files/dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var qs []query
	for _, f := range files {
		var d dashboard
		if err := json.Unmarshal(must(os.ReadFile(f)), &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				qs = append(qs, query{fmt.Sprintf("%s panel %q", filepath.Base(f), p.Title), tg.Expr, true})
			}
		}
	}
	return qs
}

type dashboard struct {
	Title  string `json:"title"`
	Panels []struct {
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
		} `json:"targets"`
	} `json:"panels"`
}

var selectorRE = regexp.MustCompile(`\b((?:orderpipe)[a-zA-Z0-9_:]*)(\{[^}]*\})?`)

// selectors are the series selectors an expression reads (metric names of
// orderpipe's, with their matchers).
func selectors(expr string) []string {
	var out []string
	for _, m := range selectorRE.FindAllString(expr, -1) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func promQuery(ctx context.Context, base, expr string) (int, error) {
	code, body := get(ctx, base+"/api/v1/query?query="+url.QueryEscape(expr))
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if code != http.StatusOK && code != http.StatusBadRequest && code != http.StatusUnprocessableEntity {
		return 0, nil // not up yet
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("%d %s", code, body)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s", r.Error)
	}
	return len(r.Data.Result), nil
}

func get(ctx context.Context, u string) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
