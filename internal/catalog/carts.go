package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/orderpipe/orderpipe/internal/catalog/domain"
)

// Carts live in Redis, one hash per cart, expiring CATALOG_CART_TTL after
// their last change:
//
//	<REDIS_KEY_PREFIX>cart:<id>   i:<productId> → quantity, _c created (unix ms),
//	                              _cust customer of the first checkout, _order its orderId
//
// Every change is one Lua script, so the checks (cart exists, not checked
// out, at most 100 items) and the write are atomic.

var (
	errCartNotFound   = errors.New("catalog: no such cart")
	errCartCheckedOut = errors.New("catalog: the cart is checked out")
	errCartFull       = errors.New("catalog: the cart is full")
	errCartCustomer   = errors.New("catalog: the cart is being checked out by another customer")
)

type cartStore struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

func (s *cartStore) key(id string) string { return s.prefix + "cart:" + id }

// setItemScript: KEYS[1] cart; ARGV field, quantity, ttl ms, max items.
var setItemScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[1], '_order') == 1 then return -2 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  local n = 0
  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(f, 1, 2) == 'i:' then n = n + 1 end
  end
  if n >= tonumber(ARGV[4]) then return -3 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// removeItemScript: KEYS[1] cart; ARGV field, ttl ms.
var removeItemScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[1], '_order') == 1 then return -2 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// claimScript pins the cart to the customer checking it out and returns the
// cart: KEYS[1] cart; ARGV customer.
var claimScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local cur = redis.call('HGET', KEYS[1], '_cust')
if cur and cur ~= ARGV[1] then return -4 end
redis.call('HSET', KEYS[1], '_cust', ARGV[1])
return redis.call('HGETALL', KEYS[1])
`)

// orderedScript records the order a checkout made: KEYS[1] cart; ARGV orderId.
var orderedScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HSET', KEYS[1], '_order', ARGV[1])
return 1
`)

func scriptErr(n int64) error {
	switch n {
	case -1:
		return errCartNotFound
	case -2:
		return errCartCheckedOut
	case -3:
		return errCartFull
	case -4:
		return errCartCustomer
	}
	return nil
}

// create makes an empty cart.
func (s *cartStore) create(ctx context.Context) (domain.Cart, error) {
	id := uuid.NewString()
	k := s.key(id)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "_c", time.Now().UnixMilli())
		p.PExpire(ctx, k, s.ttl)
		return nil
	})
	if err != nil {
		return domain.Cart{}, fmt.Errorf("catalog: create cart: %w", err)
	}
	return domain.Cart{ID: id, Items: map[string]int{}, ExpiresAt: time.Now().Add(s.ttl)}, nil
}

func (s *cartStore) run(ctx context.Context, sc *redis.Script, id string, args ...any) error {
	n, err := sc.Run(ctx, s.rdb, []string{s.key(id)}, args...).Int64()
	if err != nil {
		return fmt.Errorf("catalog: cart %s: %w", id, err)
	}
	return scriptErr(n)
}

// setItem sets a product's quantity in the cart.
func (s *cartStore) setItem(ctx context.Context, id, productID string, qty int) error {
	return s.run(ctx, setItemScript, id, "i:"+productID, qty, s.ttl.Milliseconds(), domain.MaxCartItems)
}

// removeItem removes a product from the cart (a no-op if it is not there).
func (s *cartStore) removeItem(ctx context.Context, id, productID string) error {
	return s.run(ctx, removeItemScript, id, "i:"+productID, s.ttl.Milliseconds())
}

// ordered records the orderId of the cart's checkout.
func (s *cartStore) ordered(ctx context.Context, id, orderID string) error {
	return s.run(ctx, orderedScript, id, orderID)
}

// get reads a cart.
func (s *cartStore) get(ctx context.Context, id string) (domain.Cart, error) {
	k := s.key(id)
	var all *redis.MapStringStringCmd
	var ttl *redis.DurationCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		all = p.HGetAll(ctx, k)
		ttl = p.PTTL(ctx, k)
		return nil
	}); err != nil {
		return domain.Cart{}, fmt.Errorf("catalog: cart %s: %w", id, err)
	}
	if len(all.Val()) == 0 {
		return domain.Cart{}, errCartNotFound
	}
	c := parseCart(id, all.Val())
	if d := ttl.Val(); d > 0 {
		c.ExpiresAt = time.Now().Add(d)
	}
	return c, nil
}

// claim pins the cart to customer (refusing another customer's checkout of
// it) and returns its content.
func (s *cartStore) claim(ctx context.Context, id, customer string) (domain.Cart, error) {
	res, err := claimScript.Run(ctx, s.rdb, []string{s.key(id)}, customer).Result()
	if err != nil {
		return domain.Cart{}, fmt.Errorf("catalog: cart %s: %w", id, err)
	}
	if n, ok := res.(int64); ok {
		return domain.Cart{}, scriptErr(n)
	}
	flat, _ := res.([]any)
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		m[k] = v
	}
	return parseCart(id, m), nil
}

func parseCart(id string, m map[string]string) domain.Cart {
	c := domain.Cart{ID: id, Items: map[string]int{}, CustomerID: m["_cust"], OrderID: m["_order"]}
	for f, v := range m {
		if pid, ok := strings.CutPrefix(f, "i:"); ok {
			if q, err := strconv.Atoi(v); err == nil {
				c.Items[pid] = q
			}
		}
	}
	return c
}
