package catalog

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Read sources, as metrics and X-Cache-Status name them.
const (
	srcHit   = "hit"   // fresh L1 entry
	srcMiss  = "miss"  // read from Redis
	srcStale = "stale" // Redis unavailable, served from an expired L1 entry
)

type metrics struct {
	l1          map[string]map[string]prometheus.Counter // kind → result
	redis       map[string]prometheus.Counter            // result
	redisTime   prometheus.Observer
	readTime    map[string]map[string]prometheus.Observer // kind → source
	unavailable prometheus.Counter
	breaker     prometheus.Gauge
	invalidated prometheus.Counter
	resubscribe prometheus.Counter

	projected   *prometheus.CounterVec // topic, result
	applyTime   prometheus.Histogram
	cartOps     *prometheus.CounterVec // op, result
	adminWrites *prometheus.CounterVec // kind, result
}

func newMetrics(reg prometheus.Registerer) *metrics {
	l1 := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderpipe_catalog_l1_requests_total",
		Help: "Catalog reads by kind (product, listing) and L1 result: hit (fresh entry), miss (read from Redis), stale (Redis unavailable, expired entry served with a Warning).",
	}, []string{"kind", "result"})
	redisRes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderpipe_catalog_redis_reads_total",
		Help: "Catalog reads that went to Redis, by result: hit, miss (no such product), error, breaker_open (not tried: circuit open).",
	}, []string{"result"})
	redisTime := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "orderpipe_catalog_redis_read_duration_seconds",
		Help:    "Latency of the Redis reads behind L1 misses (one per coalesced miss).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5},
	})
	readTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "orderpipe_catalog_read_duration_seconds",
		Help:    "Time to produce a product or listing response body, by kind and source (hit, miss, stale).",
		Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
	}, []string{"kind", "source"})
	m := &metrics{
		l1: map[string]map[string]prometheus.Counter{}, redis: map[string]prometheus.Counter{},
		readTime: map[string]map[string]prometheus.Observer{}, redisTime: redisTime,
		unavailable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderpipe_catalog_unavailable_total", Help: "Catalog reads answered 503: Redis unavailable and no L1 entry to serve stale.",
		}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orderpipe_catalog_redis_breaker_open", Help: "1 while the Redis read circuit breaker is open or half-open, else 0.",
		}),
		invalidated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderpipe_catalog_invalidations_total", Help: "Invalidation messages received over Redis pub/sub.",
		}),
		resubscribe: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderpipe_catalog_invalidation_resubscribes_total", Help: "Re-subscriptions to the invalidation channel (each purges L1: messages may have been missed).",
		}),
		projected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderpipe_catalog_projector_records_total",
			Help: "Records the catalog projector consumed, by topic and result: applied, stale (version not newer), dlq (undecodable).",
		}, []string{"topic", "result"}),
		applyTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "orderpipe_catalog_projector_batch_duration_seconds",
			Help:    "Time to write one fetched batch to Redis (one pipeline).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		cartOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderpipe_catalog_cart_operations_total", Help: "Cart operations by op and result.",
		}, []string{"op", "result"}),
		adminWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderpipe_catalog_admin_writes_total", Help: "Catalog admin writes produced to Kafka, by kind (product, adjust) and result.",
		}, []string{"kind", "result"}),
	}
	for _, kind := range []string{"product", "listing"} {
		m.l1[kind] = map[string]prometheus.Counter{}
		m.readTime[kind] = map[string]prometheus.Observer{}
		for _, res := range []string{srcHit, srcMiss, srcStale} {
			m.l1[kind][res] = l1.WithLabelValues(kind, res)
			m.readTime[kind][res] = readTime.WithLabelValues(kind, res)
		}
	}
	for _, res := range []string{"hit", "miss", "error", "breaker_open"} {
		m.redis[res] = redisRes.WithLabelValues(res)
	}
	reg.MustRegister(l1, redisRes, redisTime, readTime, m.unavailable, m.breaker, m.invalidated, m.resubscribe,
		m.projected, m.applyTime, m.cartOps, m.adminWrites)
	return m
}
