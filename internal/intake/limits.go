package intake

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/hashicorp/golang-lru/v2/expirable"
)

// scopeLimiters keeps one bursty failsafe-go rate limiter per idempotency
// scope, in sharded expiring LRUs so memory stays bounded however many
// customers there are.
type scopeLimiters struct {
	rps    uint
	seed   maphash.Seed
	shards [16]limiterShard
}

type limiterShard struct {
	mu  sync.Mutex
	lru *expirable.LRU[string, ratelimiter.RateLimiter[any]]
}

const scopesPerShard = 8192

func newScopeLimiters(rps int) *scopeLimiters {
	s := &scopeLimiters{rps: uint(rps), seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].lru = expirable.NewLRU[string, ratelimiter.RateLimiter[any]](scopesPerShard, nil, time.Minute)
	}
	return s
}

// allow takes a permit for scope.
func (s *scopeLimiters) allow(scope string) bool {
	sh := &s.shards[maphash.String(s.seed, scope)%uint64(len(s.shards))]
	sh.mu.Lock()
	l, ok := sh.lru.Get(scope)
	if !ok {
		l = ratelimiter.NewBursty[any](s.rps, time.Second)
		sh.lru.Add(scope, l)
	}
	sh.mu.Unlock()
	return l.TryAcquirePermit()
}

// KeyedLimiter is a per-key rate limit (a bursty failsafe-go limiter per
// key, kept in bounded expiring LRUs): the ingress's per-client-IP limit.
type KeyedLimiter struct{ l *scopeLimiters }

// NewKeyedLimiter allows rps permits per second per key.
func NewKeyedLimiter(rps int) *KeyedLimiter { return &KeyedLimiter{newScopeLimiters(rps)} }

// Allow takes a permit for key.
func (k *KeyedLimiter) Allow(key string) bool { return k.l.allow(key) }
