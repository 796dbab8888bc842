package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/sync/singleflight"

	"github.com/orderpipe/orderpipe/internal/catalog/domain"
)

// The read path: an in-process L1 (golang-lru expirable, bounded by entries)
// in front of Redis.
//
//   - An entry is fresh for L1TTL after it was read from Redis. Fresh → HIT.
//   - The LRU keeps entries for L1StaleTTL. An entry past L1TTL is read again
//     (MISS); if Redis fails meanwhile, it is served as STALE with a Warning.
//   - Invalidation messages drop a product's entry and make every cached
//     listing page not fresh. A read that raced an invalidation is not
//     cached as fresh (per-key sequence check), so after an invalidation
//     arrives no entry older than it is served as fresh.
//   - Concurrent misses of one key make one Redis call (singleflight).
//   - A circuit breaker stops calling a failing Redis: while open a miss
//     costs microseconds and goes straight to STALE or 503.

// entry is one cached response body with its precomputed headers.
type entry struct {
	body    []byte
	etag    string
	etagHdr []string
	lenHdr  []string
	fetched time.Time
	seq     uint64 // invalidation sequence of the key's stripe when read
}

const stripes = 4096

var (
	errBreakerOpen = errors.New("catalog: redis circuit breaker open")
	errNotFound    = errors.New("catalog: no such product")
)

type reader struct {
	store     *Store
	products  *expirable.LRU[string, *entry] // nil when L1 is off
	listings  *expirable.LRU[string, *entry]
	fresh     time.Duration
	sf        singleflight.Group
	breaker   circuitbreaker.CircuitBreaker[any]
	stripe    [stripes]atomic.Uint64 // per product-key invalidation sequence
	listSeq   atomic.Uint64          // bumped by every invalidation
	m         *metrics
	cursors   domain.Cursors
	loadLimit time.Duration
}

func newReader(store *Store, cfg Config, m *metrics) *reader {
	key := cfg.CursorSecret
	if key == "" {
		key = defaultCursorKey
	}
	rd := &reader{store: store, fresh: cfg.L1TTL, m: m, cursors: domain.NewCursors([]byte(key)), loadLimit: time.Second}
	if cfg.L1Size > 0 {
		rd.products = expirable.NewLRU[string, *entry](cfg.L1Size, nil, cfg.L1StaleTTL)
		rd.listings = expirable.NewLRU[string, *entry](max(cfg.L1Size/8, 256), nil, cfg.L1StaleTTL)
	}
	rd.breaker = circuitbreaker.NewBuilder[any]().
		WithFailureThresholdRatio(5, 10).
		WithDelay(cfg.BreakerDelay).
		WithSuccessThreshold(2).
		OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
			if e.NewState == circuitbreaker.ClosedState {
				m.breaker.Set(0)
			} else {
				m.breaker.Set(1)
			}
		}).
		Build()
	return rd
}

func stripeOf(id string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % stripes)
}

// invalidate handles one invalidation message.
func (rd *reader) invalidate(id string) {
	rd.m.invalidated.Inc()
	rd.listSeq.Add(1)
	if id == "*" {
		for i := range rd.stripe {
			rd.stripe[i].Add(1)
		}
		if rd.products != nil {
			rd.products.Purge()
			rd.listings.Purge()
		}
		return
	}
	rd.stripe[stripeOf(id)].Add(1)
	if rd.products != nil {
		rd.products.Remove(id)
	}
}

// purge drops every entry (after missed invalidations).
func (rd *reader) purge() { rd.invalidate("*") }

// call runs one Redis read under the circuit breaker.
func (rd *reader) call(fn func(ctx context.Context) error) error {
	if !rd.breaker.TryAcquirePermit() {
		rd.m.redis["breaker_open"].Inc()
		return errBreakerOpen
	}
	ctx, cancel := context.WithTimeout(context.Background(), rd.loadLimit)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	rd.m.redisTime.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		rd.breaker.RecordSuccess()
		rd.m.redis["hit"].Inc()
	case errors.Is(err, errNotFound):
		rd.breaker.RecordSuccess()
		rd.m.redis["miss"].Inc()
	default:
		rd.breaker.RecordFailure()
		rd.m.redis["error"].Inc()
	}
	return err
}

// retryAfter is how long a client should wait after a 503.
func (rd *reader) retryAfter() time.Duration {
	return max(rd.breaker.RemainingDelay(), time.Second)
}

// product returns the cached response for a product id and where it came from.
func (rd *reader) product(id string) (*entry, string, error) {
	var stale *entry
	if rd.products != nil {
		if e, ok := rd.products.Get(id); ok {
			if time.Since(e.fetched) < rd.fresh && e.seq == rd.stripe[stripeOf(id)].Load() {
				return e, srcHit, nil
			}
			stale = e
		}
	}
	v, err, _ := rd.sf.Do(id, func() (any, error) { return rd.loadProduct(id) })
	if err == nil {
		return v.(*entry), srcMiss, nil
	}
	if stale != nil && !errors.Is(err, errNotFound) {
		return stale, srcStale, nil
	}
	return nil, "", err
}

func (rd *reader) loadProduct(id string) (*entry, error) {
	seq := rd.stripe[stripeOf(id)].Load()
	var rec Record
	err := rd.call(func(ctx context.Context) error {
		var err error
		rec, err = rd.store.Get(ctx, id)
		if err == nil && (rec.Product == nil || !rec.Product.Active) {
			err = errNotFound
		}
		return err
	})
	if errors.Is(err, errNotFound) {
		if rd.products != nil {
			rd.products.Remove(id)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	v, _ := rec.View()
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	e := newEntry(body, seq)
	if rd.products != nil {
		rd.products.Add(id, e)
	}
	return e, nil
}

func newEntry(body []byte, seq uint64) *entry {
	h := fnv.New64a()
	_, _ = h.Write(body)
	etag := `"` + strconv.FormatUint(h.Sum64(), 36) + `"`
	return &entry{body: body, etag: etag, etagHdr: []string{etag}, lenHdr: []string{strconv.Itoa(len(body))}, fetched: time.Now(), seq: seq}
}

// listingPage is the JSON of a listing response.
type listingPage struct {
	Items      []domain.View `json:"items"`
	NextCursor *string       `json:"nextCursor"`
}

// listing returns the cached response for a listing query. key identifies
// the query (including the cursor) in L1.
func (rd *reader) listing(key string, q domain.Query) (*entry, string, error) {
	var stale *entry
	if rd.listings != nil {
		if e, ok := rd.listings.Get(key); ok {
			if time.Since(e.fetched) < rd.fresh && e.seq == rd.listSeq.Load() {
				return e, srcHit, nil
			}
			stale = e
		}
	}
	v, err, _ := rd.sf.Do("\x00l"+key, func() (any, error) { return rd.loadListing(key, q) })
	if err == nil {
		return v.(*entry), srcMiss, nil
	}
	if stale != nil {
		return stale, srcStale, nil
	}
	return nil, "", err
}

func (rd *reader) loadListing(key string, q domain.Query) (*entry, error) {
	seq := rd.listSeq.Load()
	var page Page
	err := rd.call(func(ctx context.Context) error {
		var err error
		page, err = rd.store.List(ctx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := listingPage{Items: page.Items}
	if out.Items == nil {
		out.Items = []domain.View{}
	}
	if page.Next != "" {
		c := rd.cursors.Encode(q.Filter(), page.Next)
		out.NextCursor = &c
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	e := newEntry(body, seq)
	if rd.listings != nil {
		rd.listings.Add(key, e)
	}
	return e, nil
}

// view returns a product's view for carts: from a fresh L1 entry, else Redis.
func (rd *reader) view(id string) (domain.View, error) {
	e, _, err := rd.product(id)
	if err != nil {
		return domain.View{}, err
	}
	var v domain.View
	if err := json.Unmarshal(e.body, &v); err != nil {
		return domain.View{}, err
	}
	return v, nil
}
