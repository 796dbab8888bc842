package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
)

// A product record or stock snapshot on its topic shows through the API
// within a bounded wait; older versions replayed afterwards change nothing.
func TestProductChangesShowThroughTheAPI(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	h := startCatalog(t, testConfig(k, r))
	w := newWriter(t, k)

	w.products(product("p-1", "Blue Kettle", "kitchen", 2999, 1))
	var got response
	eventually(t, 30*time.Second, "p-1 visible", func() bool {
		got = h.get("/api/v1/products/p-1")
		return got.Status == 200
	})
	if field(got.Body, "name") != "Blue Kettle" || num(field(got.Body, "price", "amount")) != 2999 || field(got.Body, "price", "currency") != "USD" {
		t.Fatalf("product view: %s", got.Raw)
	}
	if field(got.Body, "availability", "isAvailable") != false || field(got.Body, "availability", "status") != "OUT_OF_STOCK" {
		t.Fatalf("a product without a stock snapshot is out of stock: %s", got.Raw)
	}

	w.products(product("p-1", "Blue Kettle", "kitchen", 2499, 2))
	w.stock(stock("p-1", 3, 1))
	eventually(t, 30*time.Second, "price and stock change visible", func() bool {
		got = h.get("/api/v1/products/p-1")
		return num(field(got.Body, "price", "amount")) == 2499 && num(field(got.Body, "availability", "availableQuantity")) == 3
	})
	if field(got.Body, "availability", "status") != "LOW_STOCK" {
		t.Fatalf("3 available is low stock: %s", got.Raw)
	}

	// Replays of older versions are refused by the version compare (counted
	// as stale) and change nothing in Redis or the API; a newer one lands.
	names := kafka.TopicNames(k.TopicPrefix)
	w.products(product("p-1", "Old Kettle", "kitchen", 1, 1))
	w.stock(stock("p-1", 0, 0))
	eventually(t, 30*time.Second, "replays consumed", func() bool {
		return counterValue(h.svc.m.projected.WithLabelValues(names.CatalogProducts, "stale")) == 1 &&
			counterValue(h.svc.m.projected.WithLabelValues(names.InventoryStock, "stale")) == 1
	})
	rec, err := h.svc.store.Get(context.Background(), "p-1")
	if err != nil || rec.Product.Name != "Blue Kettle" || rec.Product.Version != 2 || rec.Stock.Available != 3 {
		t.Fatalf("an older replayed record changed Redis: %+v %+v %v", rec.Product, rec.Stock, err)
	}
	w.products(product("p-1", "Blue Kettle", "kitchen", 2499, 3))
	eventually(t, 30*time.Second, "version 3 visible", func() bool {
		return num(h.get("/api/v1/products/p-1").Body["version"]) == 3
	})
	got = h.get("/api/v1/products/p-1")
	if field(got.Body, "name") != "Blue Kettle" || num(field(got.Body, "availability", "availableQuantity")) != 3 {
		t.Fatalf("an older replayed record changed the view: %s", got.Raw)
	}

	// A snapshot written in a transaction (as the inventory-processor
	// writes them) shows too, and a caught-up projector reports lag 0:
	// the commit marker is not a record waiting.
	txn := newWriter(t, k, kgo.TransactionalID("catalog-test-"+k.TopicPrefix))
	ctx := context.Background()
	if err := txn.cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	v, _ := json.Marshal(stock("p-1", 40, 5))
	if err := txn.cl.ProduceSync(ctx, &kgo.Record{Topic: names.InventoryStock, Key: []byte("p-1"), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txn.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "transactional snapshot visible and lag 0", func() bool {
		if num(field(h.get("/api/v1/products/p-1").Body, "availability", "availableQuantity")) != 40 {
			return false
		}
		lags := scrapeLag(t, h, k.TopicPrefix+"catalog-projector")
		return len(lags) > 0 && lags[names.InventoryStock] == 0 && lags[names.CatalogProducts] == 0
	})

	// Deactivation removes the product from reads and listings.
	p := product("p-1", "Blue Kettle", "kitchen", 2499, 4)
	p.Active = false
	w.products(p)
	eventually(t, 30*time.Second, "inactive product gone", func() bool { return h.get("/api/v1/products/p-1").Status == 404 })
	if l := h.get("/api/v1/products?categoryId=kitchen"); len(l.Body["items"].([]any)) != 0 {
		t.Fatalf("inactive product listed: %s", l.Raw)
	}
}

// Reads carry X-Cache-Status, ETag and Cache-Control; If-None-Match gives 304.
func TestCacheHeadersAndConditionalGet(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	cfg := testConfig(k, r)
	cfg.L1TTL = time.Hour
	cfg.L1StaleTTL = time.Hour
	h := startCatalog(t, cfg)
	w := newWriter(t, k)
	w.products(product("p-1", "Lamp", "home", 1500, 1))
	eventually(t, 30*time.Second, "p-1 visible", func() bool { return h.get("/api/v1/products/p-1").Status == 200 })

	// The visible write's invalidation can land after the first read, so
	// wait for the read that L1 serves (it must come, with the TTL an hour).
	var got response
	eventually(t, 10*time.Second, "p-1 served from L1 (X-Cache-Status HIT)", func() bool {
		got = h.get("/api/v1/products/p-1")
		return got.Header.Get("X-Cache-Status") == "HIT"
	})
	etag := got.Header.Get("ETag")
	if etag == "" || got.Header.Get("Cache-Control") != "public, max-age=5" || got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers: %v", got.Header)
	}
	nm := h.do("GET", "/api/v1/products/p-1", "", map[string]string{"If-None-Match": etag})
	if nm.Status != 304 || len(nm.Raw) != 0 {
		t.Fatalf("If-None-Match with the current ETag: %d %q", nm.Status, nm.Raw)
	}
	if nm := h.do("GET", "/api/v1/products/p-1", "", map[string]string{"If-None-Match": `"other", W/` + etag}); nm.Status != 304 {
		t.Fatalf("weak match in a list: %d", nm.Status)
	}
	if nm := h.do("GET", "/api/v1/products/p-1", "", map[string]string{"If-None-Match": `"other"`}); nm.Status != 200 {
		t.Fatalf("non-matching If-None-Match: %d", nm.Status)
	}
	l1 := h.get("/api/v1/products?pageSize=5")
	l2 := h.get("/api/v1/products?pageSize=5&page=7&sort=whatever")
	if l1.Status != 200 || l2.Status != 200 || l2.Header.Get("X-Cache-Status") != "HIT" || l1.Header.Get("ETag") != l2.Header.Get("ETag") {
		t.Fatalf("listing with unknown parameters must be the same (cached) page: %d %d %v", l1.Status, l2.Status, l2.Header)
	}
	if nm := h.do("GET", "/api/v1/products?pageSize=5", "", map[string]string{"If-None-Match": l1.Header.Get("ETag")}); nm.Status != 304 {
		t.Fatalf("listing If-None-Match: %d", nm.Status)
	}
	if got := h.get("/api/v1/products/nope"); got.Status != 404 || got.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown product: %d %s", got.Status, got.Raw)
	}
}

// An invalidation drops the L1 entry: with an L1 TTL of an hour, a change
// still shows within seconds.
func TestInvalidationDropsL1Entry(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	cfg := testConfig(k, r)
	cfg.L1TTL = time.Hour
	cfg.L1StaleTTL = time.Hour
	h := startCatalog(t, cfg)
	w := newWriter(t, k)
	w.products(product("p-1", "Chair", "home", 5000, 1))
	eventually(t, 30*time.Second, "p-1 visible", func() bool { return h.get("/api/v1/products/p-1").Status == 200 })
	// The invalidation of the write that made p-1 visible can land just after
	// the first read filled L1; wait until a read is served from L1.
	eventually(t, 10*time.Second, "p-1 cached in L1", func() bool {
		return h.get("/api/v1/products/p-1").Header.Get("X-Cache-Status") == "HIT"
	})
	w.products(product("p-1", "Chair", "home", 4000, 2))
	eventually(t, 30*time.Second, "new price despite a 1h L1 TTL", func() bool {
		return num(field(h.get("/api/v1/products/p-1").Body, "price", "amount")) == 4000
	})
}

// L1 never serves a value older than its TTL after an invalidation was
// published: readers hammer a product while it is updated; every answer
// with an old version must come from a request that started before that
// version's invalidation was published plus the TTL. A second phase writes
// Redis behind the projector's back (no invalidation at all): the TTL alone
// then bounds the staleness.
func TestL1NeverServesOlderThanTTLAfterInvalidation(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	cfg := testConfig(k, r)
	cfg.L1TTL = 1500 * time.Millisecond
	cfg.L1StaleTTL = time.Minute
	h := startCatalog(t, cfg)
	w := newWriter(t, k)
	rdb := redis.NewClient(mustParse(t, r.URL))
	t.Cleanup(func() { _ = rdb.Close() })
	store := NewStore(rdb, r.KeyPrefix)

	// published[v] = when the invalidation of version v was seen on the channel.
	var mu sync.Mutex
	published := map[int64]time.Time{}
	sub := rdb.Subscribe(context.Background(), store.Channel())
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	go func() {
		for m := range sub.Channel() {
			if m.Payload != "p-1" {
				continue
			}
			rec, err := store.Get(context.Background(), "p-1")
			if err != nil || rec.Product == nil {
				continue
			}
			mu.Lock()
			if _, ok := published[rec.Product.Version]; !ok {
				published[rec.Product.Version] = time.Now()
			}
			mu.Unlock()
		}
	}()

	w.products(product("p-1", "Desk", "home", 100, 1))
	eventually(t, 30*time.Second, "p-1 visible", func() bool { return h.get("/api/v1/products/p-1").Status == 200 })

	type obs struct {
		start   time.Time
		version int64
		cache   string
	}
	var observed []obs
	var omu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				got, err := h.try("GET", "/api/v1/products/p-1", "", nil)
				if err != nil || got.Status != 200 {
					continue
				}
				omu.Lock()
				observed = append(observed, obs{start, num(got.Body["version"]), got.Header.Get("X-Cache-Status")})
				omu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	for v := int64(2); v <= 6; v++ {
		w.products(product("p-1", "Desk", "home", 100*v, v))
		eventually(t, 30*time.Second, fmt.Sprintf("invalidation of v%d", v), func() bool {
			mu.Lock()
			defer mu.Unlock()
			_, ok := published[v]
			return ok
		})
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(cfg.L1TTL + 500*time.Millisecond)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	hits := 0
	for _, o := range observed {
		if o.cache == "HIT" {
			hits++
		}
		for v, at := range published {
			if o.version < v && o.start.After(at.Add(cfg.L1TTL)) {
				t.Errorf("a read started %s after v%d's invalidation answered v%d (%s)", o.start.Sub(at), v, o.version, o.cache)
			}
		}
	}
	if hits == 0 {
		t.Fatal("no L1 hit observed: the test did not exercise L1")
	}
	t.Logf("%d reads, %d L1 hits", len(observed), hits)

	// Phase 2: a change Redis holds but nobody announced. L1 must stop
	// serving the old body once its TTL has passed.
	h.get("/api/v1/products/p-1")
	before := h.get("/api/v1/products/p-1")
	if before.Header.Get("X-Cache-Status") != "HIT" {
		t.Fatalf("want an L1 hit before the silent change, got %s", before.Header.Get("X-Cache-Status"))
	}
	silent := product("p-1", "Desk (silent)", "home", 777, 7)
	pj, _ := jsonMarshal(silent)
	if err := rdb.HSet(context.Background(), store.productKey("p-1"), "pj", pj, "pv", 7).Err(); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	for {
		start := time.Now()
		got := h.get("/api/v1/products/p-1")
		if num(got.Body["version"]) == 7 {
			break
		}
		if start.After(changed.Add(cfg.L1TTL)) {
			t.Fatalf("a read %s after a silent change still answered v%d (%s): older than the L1 TTL", start.Sub(changed), num(got.Body["version"]), got.Header.Get("X-Cache-Status"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Walking a listing page by page returns every matching product exactly
// once while products are updated concurrently (prices, names, stock that
// stays available), for plain, category, availability and search listings.
func TestPaginationWalksEveryProductOnceUnderUpdates(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	cfg := testConfig(k, r)
	cfg.L1TTL = 200 * time.Millisecond
	h := startCatalog(t, cfg)
	w := newWriter(t, k)

	const n = 600
	cats := []string{"garden", "kitchen", "toys"}
	var ps []schemas.Product
	var ss []schemas.StockSnapshot
	for i := range n {
		id := fmtID("p", i)
		ps = append(ps, product(id, fmt.Sprintf("Widget %d %s", i, cats[i%3]), cats[i%3], int64(100+i), 1))
		ss = append(ss, stock(id, int64(10+i%7), 1))
	}
	w.products(ps...)
	w.stock(ss...)
	eventually(t, 60*time.Second, "every product projected and available", func() bool {
		return len(walk(t, h, "isAvailable=true&pageSize=200")) == n
	})

	// Updates race the walks: new prices and names (same category, the word
	// "widget" kept) and stock changes that keep each product available.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var updates atomic.Int64
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		v := int64(2)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var batchP []schemas.Product
			var batchS []schemas.StockSnapshot
			for range 25 {
				i := rng.IntN(n)
				p := ps[i]
				p.Version, p.Price.Amount, p.Name = v, int64(rng.IntN(10000)+1), fmt.Sprintf("Widget %d %s v%d", i, cats[i%3], v)
				batchP = append(batchP, p)
				batchS = append(batchS, stock(p.ProductID, int64(1+rng.IntN(50)), v))
			}
			w.products(batchP...)
			w.stock(batchS...)
			updates.Add(50)
			v++
		}
	})
	defer func() { close(stop); wg.Wait() }()

	check := func(query string, want map[string]bool) {
		t.Helper()
		seen := walk(t, h, query)
		count := map[string]int{}
		for _, id := range seen {
			count[id]++
		}
		for id, c := range count {
			if c != 1 {
				t.Errorf("%s: %s returned %d times", query, id, c)
			}
			if !want[id] {
				t.Errorf("%s: %s does not match", query, id)
			}
		}
		for id := range want {
			if count[id] == 0 {
				t.Errorf("%s: %s never returned", query, id)
			}
		}
	}
	all, kitchen := map[string]bool{}, map[string]bool{}
	for i, p := range ps {
		all[p.ProductID] = true
		if i%3 == 1 {
			kitchen[p.ProductID] = true
		}
	}
	check("pageSize=37", all)
	check("pageSize=50&page=3", all)
	check("categoryId=kitchen&pageSize=23", kitchen)
	check("isAvailable=true&pageSize=200", all)
	check("search=widget+kitch&pageSize=41", kitchen)
	check("categoryId=kitchen&isAvailable=true&search=wid&pageSize=13", kitchen)
	if got := walk(t, h, "isAvailable=false"); len(got) != 0 {
		t.Errorf("isAvailable=false returned %d products, all are available", len(got))
	}
	t.Logf("%d updates raced the walks", updates.Load())
}

// walk follows nextCursor from the first page to the last and returns the
// ids in order.
func walk(t testing.TB, h *harness, query string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for page := 0; ; page++ {
		q := query
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		got := h.get("/api/v1/products?" + q)
		if got.Status != 200 {
			t.Fatalf("GET ?%s: %d %s", q, got.Status, got.Raw)
		}
		items, _ := got.Body["items"].([]any)
		for _, it := range items {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		next, _ := got.Body["nextCursor"].(string)
		if next == "" {
			return ids
		}
		if page > 10000 {
			t.Fatal("listing does not end")
		}
		cursor = next
	}
}

// A miss storm on one cold key makes one Redis read: concurrent misses wait
// for the first (singleflight). Redis is slowed down so that every request
// arrives while the first read is in flight.
func TestMissStormMakesOneRedisRead(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	h := startCatalog(t, testConfig(k, r))
	w := newWriter(t, k)
	w.products(product("p-hot", "Doorbuster TV", "electronics", 19900, 1))
	eventually(t, 30*time.Second, "p-hot projected", func() bool {
		rec, err := h.svc.store.Get(context.Background(), "p-hot")
		return err == nil && rec.Product != nil
	})
	h.svc.rdb.AddHook(slowReads{delay: 300 * time.Millisecond})
	before := counterValue(h.svc.m.redis["hit"])
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 50 {
		wg.Go(func() {
			if got, err := h.try("GET", "/api/v1/products/p-hot", "", nil); err == nil && got.Status == 200 {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 {
		t.Fatalf("%d of 50 reads answered 200", ok.Load())
	}
	if n := counterValue(h.svc.m.redis["hit"]) - before; n != 1 {
		t.Fatalf("50 concurrent reads of a cold key made %v Redis reads, want 1", n)
	}
}

// slowReads delays HMGET, the product read.
type slowReads struct{ delay time.Duration }

func (slowReads) DialHook(next redis.DialHook) redis.DialHook { return next }

func (s slowReads) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "hmget" {
			time.Sleep(s.delay)
		}
		return next(ctx, cmd)
	}
}

func (slowReads) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
