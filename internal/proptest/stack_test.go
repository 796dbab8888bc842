package proptest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/catalog"
	"github.com/orderpipe/orderpipe/internal/ingress"
	"github.com/orderpipe/orderpipe/internal/inventory"
	"github.com/orderpipe/orderpipe/internal/orders"
	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// stack is the four services, in-process, on the test's real servers.
type stack struct {
	addrs map[string]string // service → host:port
	logs  string            // directory of the services' logs
}

type service struct {
	name   string
	config app.Config
	build  app.Builder
}

func services() []service {
	var ing ingress.Config
	var cat catalog.Config
	var inv inventory.Config
	var ord orders.Config
	return []service{
		{"ingress", &ing, func(ctx context.Context, env *app.Env) (app.Service, error) { return ingress.New(ctx, env, ing) }},
		{"catalog-api", &cat, func(ctx context.Context, env *app.Env) (app.Service, error) { return catalog.New(ctx, env, cat) }},
		{"inventory-processor", &inv, func(ctx context.Context, env *app.Env) (app.Service, error) { return inventory.New(ctx, env, inv) }},
		{"order-processor", &ord, func(ctx context.Context, env *app.Env) (app.Service, error) { return orders.New(ctx, env, ord) }},
	}
}

// startStack applies the topics and starts every service with the
// environment its binary would read; they stop at cleanup.
func startStack(t *testing.T, extra map[string]string) *stack {
	t.Helper()
	kenv := testenv.Kafka(t)
	pgURL := testenv.Postgres(t)
	renv := testenv.Redis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := kenv.Client(t)
	if _, err := kafka.Apply(ctx, cl, kafka.Spec(kenv.Config, kafka.SpecOptions{}), io.Discard); err != nil {
		t.Fatalf("topics apply: %v", err)
	}
	vars := map[string]string{
		"HTTP_ADDR":                 "127.0.0.1:0",
		"LOG_LEVEL":                 "warn",
		"KAFKA_BROKERS":             strings.Join(kenv.Brokers, ","),
		"TOPIC_PREFIX":              kenv.Config.TopicPrefix,
		"ORDER_PARTITIONS":          strconv.Itoa(kenv.Config.OrderPartitions),
		"PRODUCT_PARTITIONS":        strconv.Itoa(kenv.Config.ProductPartitions),
		"KAFKA_REPLICATION_FACTOR":  strconv.Itoa(kenv.Config.ReplicationFactor),
		"KAFKA_MIN_INSYNC_REPLICAS": strconv.Itoa(kenv.Config.MinInsyncReplicas),
		"DATABASE_URL":              pgURL,
		"REDIS_URL":                 renv.URL,
		"REDIS_KEY_PREFIX":          renv.Prefix,
		"INSTANCE_ID":               "proptest",
		// Prefer: wait=N may ask for up to this: keep generated requests short.
		"ORDER_MAX_WAIT": "2s",
	}
	for k, v := range extra {
		vars[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }

	logs := t.TempDir()
	svcCtx, stop := context.WithCancel(context.Background())
	s := &stack{addrs: map[string]string{}, logs: logs}
	type started struct {
		name, addr string
		err        error
	}
	ready := make(chan started, 4)
	done := make(chan error, 4)
	all := services()
	for _, svc := range all {
		var common app.Common
		if err := app.Load(svc.name, "127.0.0.1:0", nil, lookup, &common, svc.config); err != nil {
			stop()
			t.Fatalf("%s config: %v", svc.name, err)
		}
		logFile, err := os.Create(filepath.Join(logs, svc.name+".log"))
		if err != nil {
			stop()
			t.Fatal(err)
		}
		go func() {
			defer func() { _ = logFile.Close() }()
			err := app.Run(svcCtx, svc.name, common, svc.build, app.Options{LogOutput: logFile,
				Ready: func(addr string) { ready <- started{name: svc.name, addr: addr} }})
			if err != nil {
				ready <- started{name: svc.name, err: err}
			}
			done <- err
		}()
	}
	t.Cleanup(func() {
		stop()
		for range all {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("service stopped with %v", err)
				}
			case <-time.After(40 * time.Second):
				t.Error("a service did not stop in 40s")
				return
			}
		}
		if t.Failed() {
			dumpLogs(t, logs)
		}
	})
	for range all {
		select {
		case st := <-ready:
			if st.err != nil {
				t.Fatalf("%s did not start: %v", st.name, st.err)
			}
			s.addrs[st.name] = st.addr
		case <-time.After(90 * time.Second):
			t.Fatal("services did not start in 90s")
		}
	}
	for _, addr := range s.addrs {
		svctest.WaitReady(t, "http://"+addr+"/health/ready", 90*time.Second) // the URL names the service's port
	}
	return s
}

// call sends one JSON request and returns status and body.
func call(t *testing.T, method, url, body string, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// seedProducts creates a few products with stock through catalog-api's
// admin routes (the ids the documents' examples use) and waits until the
// catalog serves them.
func seedProducts(t *testing.T, catalogURL string, ids ...string) {
	t.Helper()
	for i, id := range ids {
		body := fmt.Sprintf(`{"name":"Proptest product %d","categoryId":"cat-01","price":{"amount":%d,"currency":"USD"}}`, i+1, 1000+i)
		if st, b := call(t, http.MethodPut, catalogURL+"/api/v1/admin/products/"+id, body, nil); st != http.StatusAccepted {
			t.Fatalf("seed %s: %d %s", id, st, b)
		}
		adj := `{"adjustmentId":"seed-` + id + `","absolute":1000000,"reason":"proptest seed"}`
		if st, b := call(t, http.MethodPost, catalogURL+"/api/v1/admin/inventory/"+id+"/adjust", adj, nil); st != http.StatusAccepted {
			t.Fatalf("stock %s: %d %s", id, st, b)
		}
	}
	// One deadline for all of them: ids[:served] are served already.
	served := 0
	testenv.Eventually(t, 60*time.Second, "the catalog serves every seeded product", func() error {
		for ; served < len(ids); served++ {
			id := ids[served]
			st, b := call(t, http.MethodGet, catalogURL+"/api/v1/products/"+id, "", nil)
			if st != http.StatusOK || !bytes.Contains(b, []byte(`"isAvailable":true`)) {
				return fmt.Errorf("product %s: %d %s", id, st, b)
			}
		}
		return nil
	})
}

func dumpLogs(t *testing.T, dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if len(b) > 8000 {
			b = b[len(b)-8000:]
		}
		t.Logf("--- %s (tail) ---\n%s", e.Name(), b)
	}
}
