package intake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The idempotency fast path keeps one Redis string per order:
//
//	key   <REDIS_KEY_PREFIX>idem:<orderId>
//	value "v1|I|<token>|<bodyHash>|<len(scope)>|<scope><customerId>"  in flight (TTL IDEMPOTENCY_INFLIGHT_TTL)
//	      "v1|A|<acceptedAt unix ms>|<bodyHash>|<len(scope)>|<scope><customerId>"  accepted (TTL IDEMPOTENCY_TTL)
//
// orderId is derived one-to-one from (scope, key), so keying by orderId is
// keying by (scope, key) and also lets GET /api/v1/orders/{id} answer
// ACCEPTED before the status projection has the order. Begin is one round
// trip (SET NX GET with the in-flight TTL); Accept overwrites the record with
// the long TTL; Release deletes it only if it still holds this attempt's token.

// Outcome is what the idempotency fast path decided for a request.
type Outcome string

// Outcomes, as the orderpipe_intake_idempotency_total metric labels them.
const (
	OutcomeNew      Outcome = "new"       // first time this key is seen: produce
	OutcomeReplay   Outcome = "replay"    // already accepted with the same body: same answer again
	OutcomeConflict Outcome = "conflict"  // same key, different body: 422
	OutcomeInFlight Outcome = "in_flight" // same key, first request still producing: 409
	OutcomeDegraded Outcome = "degraded"  // Redis unavailable: produce, the order-processor dedupes
)

type record struct {
	accepted   bool
	token      string // in flight
	acceptedAt time.Time
	bodyHash   string
	scope      string
	customerID string
}

func (r record) encode() string {
	var b strings.Builder
	b.Grow(40 + len(r.bodyHash) + len(r.scope) + len(r.customerID))
	b.WriteString("v1|")
	if r.accepted {
		b.WriteString("A|")
		b.WriteString(strconv.FormatInt(r.acceptedAt.UnixMilli(), 10))
	} else {
		b.WriteString("I|")
		b.WriteString(r.token)
	}
	b.WriteByte('|')
	b.WriteString(r.bodyHash)
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(len(r.scope)))
	b.WriteByte('|')
	b.WriteString(r.scope)
	b.WriteString(r.customerID)
	return b.String()
}

var errBadRecord = errors.New("intake: unreadable idempotency record")

func decodeRecord(s string) (record, error) {
	parts := strings.SplitN(s, "|", 6)
	if len(parts) != 6 || parts[0] != "v1" {
		return record{}, errBadRecord
	}
	r := record{bodyHash: parts[3]}
	switch parts[1] {
	case "A":
		ms, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			return record{}, errBadRecord
		}
		r.accepted, r.acceptedAt = true, time.UnixMilli(ms).UTC()
	case "I":
		r.token = parts[2]
	default:
		return record{}, errBadRecord
	}
	n, err := strconv.Atoi(parts[4])
	if err != nil || n < 0 || n > len(parts[5]) {
		return record{}, errBadRecord
	}
	r.scope, r.customerID = parts[5][:n], parts[5][n:]
	return r, nil
}

// idemStore is the Redis side of the fast path.
type idemStore struct {
	rdb      redis.UniversalClient
	fast     redis.Cmdable // begin and accept: batched with other requests' commands (auto-pipelining)
	prefix   string
	inflight time.Duration
	ttl      time.Duration
}

func (s *idemStore) key(orderID string) string { return s.prefix + "idem:" + orderID }

// begin claims the key for this attempt, or returns what an earlier attempt
// left: the outcome and, for a claim, the token that release needs.
func (s *idemStore) begin(ctx context.Context, orderID string, rec record) (Outcome, record, error) {
	rec.token = newToken()
	old, err := s.fast.SetArgs(ctx, s.key(orderID), rec.encode(), redis.SetArgs{Mode: "NX", Get: true, TTL: s.inflight}).Result()
	if errors.Is(err, redis.Nil) {
		return OutcomeNew, rec, nil
	}
	if err != nil {
		return OutcomeDegraded, rec, fmt.Errorf("intake: idempotency begin: %w", err)
	}
	prev, err := decodeRecord(old)
	switch {
	case err != nil:
		return OutcomeDegraded, rec, err
	case prev.bodyHash != rec.bodyHash:
		return OutcomeConflict, prev, nil
	case prev.accepted:
		return OutcomeReplay, prev, nil
	default:
		return OutcomeInFlight, prev, nil
	}
}

// accept marks the order accepted for the idempotency window.
func (s *idemStore) accept(ctx context.Context, orderID string, rec record) error {
	rec.accepted, rec.acceptedAt = true, time.Now()
	if err := s.fast.Set(ctx, s.key(orderID), rec.encode(), s.ttl).Err(); err != nil {
		return fmt.Errorf("intake: idempotency accept: %w", err)
	}
	return nil
}

// releaseScript deletes KEYS[1] only if it still holds ARGV[1].
var releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// release frees the key after a failed produce, unless another attempt owns it.
func (s *idemStore) release(ctx context.Context, orderID string, rec record) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{s.key(orderID)}, rec.encode()).Err(); err != nil {
		return fmt.Errorf("intake: idempotency release: %w", err)
	}
	return nil
}

// newToken names one claim: a random per-process prefix and a counter, so a
// release never deletes another attempt's claim.
func newToken() string {
	return tokenPrefix + strconv.FormatUint(tokenSeq.Add(1), 36)
}

var (
	tokenPrefix = func() string {
		var b [6]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:]) + "."
	}()
	tokenSeq atomic.Uint64
)
