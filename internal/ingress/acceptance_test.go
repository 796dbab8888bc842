package ingress

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/internal/orderstore"
	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/localstack"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// TestAcceptedOrderIsTheRecordInKafka: a 202 names the derived orderId and
// the record is on orders.requests.v1 with the contract's key, partition,
// headers and value; GET answers ACCEPTED before any projection exists.
func TestAcceptedOrderIsTheRecordInKafka(t *testing.T) {
	t.Parallel()
	k := testenv.Kafka(t).Config
	svctest.ApplyTopics(t, k)
	h := startIngress(t, testConfig(k, redisConfig(testenv.Redis(t))))

	// The caller's trace continues into the record: same trace id, the
	// producer span as parent.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	res := h.do("POST", "/api/v1/orders", orderBody("cust-1", 2), map[string]string{"Idempotency-Key": "key-1",
		"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"})
	want := schemas.OrderID("cust-1", "key-1")
	if res.Status != 202 || res.Body["orderId"] != want || res.Body["status"] != "ACCEPTED" || res.Header.Get("Location") != "/api/v1/orders/"+want {
		t.Fatalf("POST = %d %s (Location %q); want 202 with orderId %s", res.Status, res.Raw, res.Header.Get("Location"), want)
	}
	recs := testenv.ReadAll(t, k, kafka.TopicNames(k.TopicPrefix).OrderRequests)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	r := recs[0]
	if string(r.Key) != string(schemas.RequestKey("cust-1", "key-1")) || r.Partition != kafka.PartitionFor([]byte(want), k.OrderPartitions) {
		t.Errorf("record key %q partition %d; want RequestKey and PartitionFor(orderId)=%d", r.Key, r.Partition, kafka.PartitionFor([]byte(want), k.OrderPartitions))
	}
	for _, hdr := range []string{kafka.HeaderID, kafka.HeaderType, kafka.HeaderSource, kafka.HeaderSpecVersion, kafka.HeaderTime, kafka.HeaderContentType, "traceparent"} {
		if kafka.Header(r, hdr) == "" {
			t.Errorf("record lacks header %s", hdr)
		}
	}
	if tp := kafka.Header(r, "traceparent"); !strings.HasPrefix(tp, "00-"+traceID+"-") || strings.Contains(tp, "00f067aa0ba902b7") {
		t.Errorf("record traceparent %q: want trace %s with the producer span as parent", tp, traceID)
	}
	var v schemas.OrderRequest
	if err := json.Unmarshal(r.Value, &v); err != nil || v.OrderID != want || v.BodyHash == "" || v.Currency != "USD" || len(v.Lines) != 2 || v.IdempotencyKey != "key-1" || v.Scope != "cust-1" {
		t.Errorf("record value %s (%v)", r.Value, err)
	}

	got := h.do("GET", "/api/v1/orders/"+want, "", nil)
	if got.Status != 200 || got.Body["status"] != "ACCEPTED" || got.Body["customerId"] != "cust-1" {
		t.Fatalf("GET = %d %s; want 200 ACCEPTED", got.Status, got.Raw)
	}
	// Once the projector has written the order, GET answers from it.
	rdb := redisClient(t, h.cfg.Redis.URL)
	view := orderview.View{OrderID: want, Version: 2, Status: schemas.StatusConfirmed, CustomerID: "cust-1", UpdatedAt: time.Now().UTC(),
		Total: &schemas.Money{Amount: 1234, Currency: "USD"}}
	if _, err := orderview.Write(context.Background(), rdb, h.cfg.Redis.KeyPrefix, view, 0); err != nil {
		t.Fatal(err)
	}
	got = h.do("GET", "/api/v1/orders/"+want, "", nil)
	if got.Status != 200 || got.Body["status"] != "CONFIRMED" {
		t.Fatalf("GET after projection = %d %s; want CONFIRMED", got.Status, got.Raw)
	}
	if c := h.do("POST", "/api/v1/orders/"+want+"/cancel", "", nil); c.Status != 409 {
		t.Fatalf("cancel of a confirmed order = %d %s; want 409", c.Status, c.Raw)
	}
	if got := h.do("GET", "/api/v1/orders/"+schemas.OrderID("x", "unknown"), "", nil); got.Status != 404 {
		t.Fatalf("GET unknown = %d; want 404", got.Status)
	}
}

// TestConcurrentDuplicatesMakeOneRecord: 100 concurrent identical requests
// with one key give exactly one record, and every answer is 202 or 409 with
// the same orderId. A changed body under the key is 422; a later retry
// replays 202.
func TestConcurrentDuplicatesMakeOneRecord(t *testing.T) {
	t.Parallel()
	k := testenv.Kafka(t).Config
	svctest.ApplyTopics(t, k)
	cfg := testConfig(k, redisConfig(testenv.Redis(t)))
	cfg.Intake.ScopeRPS = intake.Defaults().ScopeRPS // retries of one key are not rate limited
	h := startIngress(t, cfg)
	want := schemas.OrderID("cust-storm", "storm-key")

	var wg sync.WaitGroup
	results := make([]response, 100)
	start := make(chan struct{})
	for i := range results {
		wg.Go(func() {
			<-start
			results[i] = h.post("storm-key", orderBody("cust-storm", 3))
		})
	}
	close(start)
	wg.Wait()
	counts := map[int]int{}
	for _, r := range results {
		counts[r.Status]++
		if (r.Status != 202 && r.Status != 409) || r.Body["orderId"] != want {
			t.Errorf("answer %d %s; want 202 or 409 with orderId %s", r.Status, r.Raw, want)
		}
	}
	t.Logf("answers: %v", counts)
	if counts[202] == 0 {
		t.Fatal("no request was accepted")
	}

	if r := h.post("storm-key", orderBody("cust-storm", 4)); r.Status != 422 {
		t.Fatalf("same key, different body = %d %s; want 422", r.Status, r.Raw)
	}
	if r := h.post("storm-key", orderBody("cust-storm", 3)); r.Status != 202 || r.Body["orderId"] != want {
		t.Fatalf("retry after acceptance = %d %s; want 202 replay", r.Status, r.Raw)
	}
	n := 0
	for _, r := range testenv.ReadAll(t, k, kafka.TopicNames(k.TopicPrefix).OrderRequests) {
		if string(r.Key) == string(schemas.RequestKey("cust-storm", "storm-key")) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d records for the key, want exactly 1", n)
	}

	// Cancel: 202, a command keyed by orderId, the same commandId each time.
	for range 2 {
		if c := h.do("POST", "/api/v1/orders/"+want+"/cancel", "", nil); c.Status != 202 || c.Body["orderId"] != want {
			t.Fatalf("cancel = %d %s; want 202", c.Status, c.Raw)
		}
	}
	cmds := testenv.ReadAll(t, k, kafka.TopicNames(k.TopicPrefix).OrderCommands)
	if len(cmds) != 2 {
		t.Fatalf("%d cancel commands, want 2", len(cmds))
	}
	var c1, c2 schemas.OrderCommand
	_ = json.Unmarshal(cmds[0].Value, &c1)
	_ = json.Unmarshal(cmds[1].Value, &c2)
	if string(cmds[0].Key) != want || c1.Type != schemas.CommandCancel || c1.CommandID == "" || c1.CommandID != c2.CommandID {
		t.Fatalf("cancel commands %s / %s", cmds[0].Value, cmds[1].Value)
	}
}

// TestKafkaDownAnswers503Fast: with the only broker stopped, no order gets
// a 202; each answer is a 503 with Retry-After within the produce timeout
// (plus slack); once the broker is back a retry with the same key is
// accepted (the key was released, not stuck).
func TestKafkaDownAnswers503Fast(t *testing.T) {
	if os.Getenv("LOCALSTACK_TEST") != "1" && os.Getenv("ORDERPIPE_REQUIRE_REAL") != "1" {
		t.Skip("starts a private Apache Kafka: set LOCALSTACK_TEST=1 or ORDERPIPE_REQUIRE_REAL=1")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	lib, err := localstack.EnsureKafkaJars(ctx, root, svctest.LogWriter(t))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := localstack.StartKafka(ctx, localstack.KafkaOptions{Dir: svctest.LocalDir(t, root), LibDir: lib, Out: svctest.LogWriter(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.Stop(context.Background()) })
	k := config.Kafka{Brokers: []string{kc.Bootstrap()}, ClientID: "ingress-test", OrderPartitions: 3, ProductPartitions: 3, ReplicationFactor: 1, MinInsyncReplicas: 1}
	svctest.ApplyTopics(t, k)
	h := startIngress(t, testConfig(k, redisConfig(testenv.Redis(t))))

	// With the broker up an order is accepted. The first produce also waits
	// for the producer id and metadata, which can outlast the produce
	// timeout on a loaded machine: retry that (same key) for a while.
	for deadline := time.Now().Add(60 * time.Second); ; {
		r := h.post("before", orderBody("c-down", 1))
		if r.Status == 202 {
			break
		}
		if (r.Status != 503 && r.Status != 409) || time.Now().After(deadline) {
			t.Fatalf("with the broker up: %d %s", r.Status, r.Raw)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := kc.StopBroker(ctx, 0); err != nil {
		t.Fatal(err)
	}
	bound := h.cfg.Intake.ProduceTimeout + 3*time.Second
	var wg sync.WaitGroup
	results := make([]response, 20)
	for i := range results {
		wg.Go(func() { results[i] = h.post(fmt.Sprintf("down-%d", i), orderBody("c-down", 1)) })
	}
	wg.Wait()
	for _, r := range results {
		if r.Status != 503 || r.Header.Get("Retry-After") == "" || r.Elapsed > bound {
			t.Errorf("broker down: %d in %s (Retry-After %q) %s; want 503 with Retry-After within %s", r.Status, r.Elapsed, r.Header.Get("Retry-After"), r.Raw, bound)
		}
	}
	// The breaker is open now: answers come at once.
	if r := h.post("down-again", orderBody("c-down", 1)); r.Status != 503 || r.Elapsed > bound {
		t.Errorf("breaker open: %d in %s", r.Status, r.Elapsed)
	}

	if err := kc.StartBroker(ctx, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := h.post("down-0", orderBody("c-down", 1))
		if r.Status == 202 {
			if r.Body["orderId"] != schemas.OrderID("c-down", "down-0") {
				t.Fatalf("accepted with orderId %v", r.Body["orderId"])
			}
			break
		}
		if r.Status != 503 && r.Status != 409 {
			t.Fatalf("after restart: %d %s", r.Status, r.Raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 202 within 90s of the broker's restart: last %d %s", r.Status, r.Raw)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestDeadKafkaNever202: a producer pointed at an address where no broker
// listens answers 503 within the bound, never 202.
func TestDeadKafkaNever202(t *testing.T) {
	t.Parallel()
	k := config.Kafka{Brokers: []string{"127.0.0.1:1"}, ClientID: "dead", OrderPartitions: 3, ProductPartitions: 3, ReplicationFactor: 1, MinInsyncReplicas: 1}
	h := startIngress(t, testConfig(k, redisConfig(testenv.Redis(t))))
	bound := h.cfg.Intake.ProduceTimeout + 3*time.Second
	for i := range 3 {
		r := h.post(fmt.Sprintf("dead-%d", i), orderBody("c-dead", 1))
		if r.Status != 503 || r.Elapsed > bound {
			t.Fatalf("dead Kafka: %d in %s %s; want 503 within %s", r.Status, r.Elapsed, r.Raw, bound)
		}
	}
}

// TestRedisDownStillAccepts: with the idempotency Redis stopped the ingress
// keeps answering 202 with the derived orderId (degraded mode) and the
// records are in Kafka; replays work again once Redis is back.
func TestRedisDownStillAccepts(t *testing.T) {
	t.Parallel()
	rs := svctest.PrivateRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := testenv.Kafka(t).Config
	svctest.ApplyTopics(t, k)
	h := startIngress(t, testConfig(k, config.Redis{URL: rs.URL(), KeyPrefix: "t:"}))

	if r := h.post("r-1", orderBody("c-redis", 1)); r.Status != 202 {
		t.Fatalf("Redis up: %d %s", r.Status, r.Raw)
	}
	if err := rs.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		key := fmt.Sprintf("r-down-%d", i)
		r := h.post(key, orderBody("c-redis", 1))
		if r.Status != 202 || r.Body["orderId"] != schemas.OrderID("c-redis", key) {
			t.Fatalf("Redis down: %d %s; want 202 with the derived orderId", r.Status, r.Raw)
		}
	}
	// Reads don't wait for Redis timeouts either: the fallback answers.
	if g := h.do("GET", "/api/v1/orders/"+schemas.OrderID("c-redis", "r-down-0"), "", nil); g.Status != 404 || g.Elapsed > 2*time.Second {
		t.Fatalf("GET with Redis down = %d in %s %s; want the fallback's 404 at once", g.Status, g.Elapsed, g.Raw)
	}
	if n := len(testenv.ReadAll(t, k, kafka.TopicNames(k.TopicPrefix).OrderRequests)); n != 11 {
		t.Fatalf("%d records, want 11", n)
	}
	if err := rs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Redis's AOF kept the first key: after the breaker's delay, a retry replays.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := h.post("r-1", orderBody("c-redis", 2))
		if r.Status == 422 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis back: changed body under a known key = %d %s; want 422", r.Status, r.Raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Orders accepted while Redis was down get their idempotency records
	// once it is back (the backfill): GET answers for them before any
	// projection has them, and their keys are known to the fast path.
	for i := range 10 {
		id := schemas.OrderID("c-redis", fmt.Sprintf("r-down-%d", i))
		for {
			g := h.do("GET", "/api/v1/orders/"+id, "", nil)
			if g.Status == 200 {
				if g.Body["status"] != "ACCEPTED" || g.Body["orderId"] != id {
					t.Fatalf("GET %s after Redis came back: %s", id, g.Raw)
				}
				break
			}
			if g.Status != 404 || time.Now().After(deadline) {
				t.Fatalf("GET %s after Redis came back = %d %s; want 200 ACCEPTED", id, g.Status, g.Raw)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if r := h.post("r-down-3", orderBody("c-redis", 2)); r.Status != 422 {
		t.Fatalf("changed body under a key accepted while Redis was down = %d %s; want 422", r.Status, r.Raw)
	}
}

// TestShutdownDrainsInFlightOrders: stopping the ingress while orders are
// being produced answers every request already being served (the HTTP
// drain waits for their acknowledgements) and every 202 has its record.
func TestShutdownDrainsInFlightOrders(t *testing.T) {
	t.Parallel()
	k := testenv.Kafka(t).Config
	svctest.ApplyTopics(t, k)
	h := startIngress(t, testConfig(k, redisConfig(testenv.Redis(t))))
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]bool{}
	stop := make(chan struct{})
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("drain-%d-%d", w, i)
				r, err := tryPost(h.url, key, orderBody("c-drain", 1))
				if err != nil {
					return // the listener is closed: nothing was promised
				}
				if r == 202 {
					mu.Lock()
					accepted[string(schemas.RequestKey("c-drain", key))] = true
					mu.Unlock()
				} else if r != 503 {
					t.Errorf("during shutdown: %d", r)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	h.close() // SIGTERM: drain HTTP, settle, flush, close
	close(stop)
	wg.Wait()

	got := map[string]bool{}
	for _, r := range testenv.ReadAll(t, k, kafka.TopicNames(k.TopicPrefix).OrderRequests) {
		got[string(r.Key)] = true
	}
	for key := range accepted {
		if !got[key] {
			t.Errorf("202 for %q but no record", key)
		}
	}
	t.Logf("%d orders accepted before and during shutdown", len(accepted))
	if len(accepted) == 0 {
		t.Fatal("nothing was accepted")
	}
}

func tryPost(base, key, body string) (int, error) {
	req, err := http.NewRequestWithContext(context.Background(), "POST", base+"/api/v1/orders", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// TestListsAndFallsBackToPostgres: with the real read model (a migrated
// PostgreSQL and a read-only pool), listing answers a page and a bad
// cursor 400; GET of an order Redis does not know is a 404 from PostgreSQL.
func TestListsAndFallsBackToPostgres(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := orderstore.Migrate(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	k := testenv.Kafka(t).Config
	cfg := testConfig(k, redisConfig(testenv.Redis(t)))
	cfg.Store = nil // the real one, built from cfg.Postgres
	cfg.Postgres = config.Postgres{URL: dsn, MaxConns: 2}
	h := startIngress(t, cfg)
	if r := h.do("GET", "/api/v1/orders?customerId=nobody&pageSize=5", "", nil); r.Status != 200 || string(r.Raw) != "{\"items\":[]}\n" {
		t.Fatalf("list = %d %s; want 200 with no items", r.Status, r.Raw)
	}
	if r := h.do("GET", "/api/v1/orders?customerId=nobody&cursor=forged", "", nil); r.Status != 400 {
		t.Fatalf("forged cursor = %d %s; want 400", r.Status, r.Raw)
	}
	if r := h.do("GET", "/api/v1/orders/"+schemas.OrderID("x", "y"), "", nil); r.Status != 404 {
		t.Fatalf("unknown order = %d %s; want 404", r.Status, r.Raw)
	}
}

// oneOrderStore is a read model that has one confirmed order.
type oneOrderStore struct {
	fakeStore
	view orderview.View
}

func (s oneOrderStore) Get(ctx context.Context, id string) (orderview.View, error) {
	if id == s.view.OrderID {
		return s.view, nil
	}
	return s.fakeStore.Get(ctx, id)
}

// TestExpiredViewAnswersFromPostgres: an order whose Redis view has expired
// (ORDER_VIEW_FINAL_TTL) or was never projected there is answered from
// PostgreSQL — GET shows it, cancel sees it is confirmed (409) instead of
// answering 404 for an order that exists.
func TestExpiredViewAnswersFromPostgres(t *testing.T) {
	t.Parallel()
	k := testenv.Kafka(t).Config
	cfg := testConfig(k, redisConfig(testenv.Redis(t)))
	id := schemas.OrderID("c-expired", "k-1")
	cfg.Store = oneOrderStore{view: orderview.View{OrderID: id, Version: 3, Status: schemas.StatusConfirmed,
		CustomerID: "c-expired", UpdatedAt: time.Now().UTC()}}
	h := startIngress(t, cfg)
	if r := h.do("GET", "/api/v1/orders/"+id, "", nil); r.Status != 200 || !strings.Contains(string(r.Raw), schemas.StatusConfirmed) {
		t.Fatalf("GET = %d %s; want 200 CONFIRMED from PostgreSQL", r.Status, r.Raw)
	}
	if r := h.do("POST", "/api/v1/orders/"+id+"/cancel", "", nil); r.Status != 409 || !strings.Contains(string(r.Raw), "order-confirmed") {
		t.Fatalf("cancel = %d %s; want 409 order-confirmed", r.Status, r.Raw)
	}
	if r := h.do("POST", "/api/v1/orders/"+schemas.OrderID("c-expired", "nobody")+"/cancel", "", nil); r.Status != 404 {
		t.Fatalf("cancel of an unknown order = %d %s; want 404", r.Status, r.Raw)
	}
}
