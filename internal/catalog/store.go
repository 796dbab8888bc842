package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/orderpipe/orderpipe/internal/catalog/domain"
	"github.com/orderpipe/orderpipe/schemas"
)

// Redis layout of the catalog projection (K = REDIS_KEY_PREFIX + "catalog:").
// The projector is its only writer; catalog-api reads it.
//
//	K p:<id>              hash: pv (product version), pj (product JSON), cat, act ("1"/"0"),
//	                      tr (indexed search prefixes, space-separated),
//	                      sv (stock version), sj (stock JSON), av (available quantity)
//	K ix:all[:a1|:a0]     sorted sets, score 0, members = ids of active products
//	K ix:c:<cat>[:a1|:a0] (all / available / not available), walked in id order (BYLEX)
//	K ix:t:<prefix>       search: active products whose name has a term starting with prefix
//	K invalidate          pub/sub channel: a product id whose view changed, "*" = everything
//
// Each source (product record, stock snapshot) carries its own version; a
// write is applied only if its version is above the stored one (compared in
// Lua, atomically with the index updates), so replays and reordering are
// harmless and a rebuild can run beside the live projector.

// Store is the catalog projection in Redis.
type Store struct {
	rdb     redis.UniversalClient
	k       string
	channel string
}

// NewStore returns the store under keyPrefix (REDIS_KEY_PREFIX).
func NewStore(rdb redis.UniversalClient, keyPrefix string) *Store {
	k := keyPrefix + "catalog:"
	return &Store{rdb: rdb, k: k, channel: k + "invalidate"}
}

func (s *Store) productKey(id string) string { return s.k + "p:" + id }

// Channel is the invalidation channel.
func (s *Store) Channel() string { return s.channel }

// Pattern matches every key of the projection (for a rebuild's wipe).
func (s *Store) Pattern() string { return s.k + "*" }

// indexLua computes the index sets a product belongs to.
const indexLua = `
local function sets(K, cat, act, av, tr)
  local out = {}
  if act ~= '1' or not cat then return out end
  local a = ((tonumber(av) or 0) > 0) and ':a1' or ':a0'
  out[1] = K .. 'ix:all'
  out[2] = K .. 'ix:all' .. a
  out[3] = K .. 'ix:c:' .. cat
  out[4] = K .. 'ix:c:' .. cat .. a
  if tr then
    for t in string.gmatch(tr, '%S+') do out[#out + 1] = K .. 'ix:t:' .. t end
  end
  return out
end
local function unindex(K, id, cat, act, av, tr)
  for _, k in ipairs(sets(K, cat, act, av, tr)) do redis.call('ZREM', k, id) end
end
local function index(K, id, cat, act, av, tr)
  for _, k in ipairs(sets(K, cat, act, av, tr)) do redis.call('ZADD', k, 0, id) end
end
`

// productScript applies a product record (ARGV[9] = "del" for a tombstone,
// which keeps the version so older records stay refused).
// KEYS[1] hash; ARGV: K, id, version, pj, cat, act, tr, channel, mode.
var productScript = redis.NewScript(indexLua + `
local h, K, id = KEYS[1], ARGV[1], ARGV[2]
local cur = redis.call('HMGET', h, 'pv', 'cat', 'act', 'av', 'tr')
if ARGV[9] ~= 'del' and cur[1] and tonumber(cur[1]) >= tonumber(ARGV[3]) then return 0 end
unindex(K, id, cur[2], cur[3], cur[4], cur[5])
if ARGV[9] == 'del' then
  redis.call('HDEL', h, 'pj', 'cat', 'tr')
  redis.call('HSET', h, 'act', '0')
else
  redis.call('HSET', h, 'pv', ARGV[3], 'pj', ARGV[4], 'cat', ARGV[5], 'act', ARGV[6], 'tr', ARGV[7])
  index(K, id, ARGV[5], ARGV[6], cur[4], ARGV[7])
end
redis.call('PUBLISH', ARGV[8], id)
return 1
`)

// stockScript applies a stock snapshot (ARGV[6] = "del" for a tombstone).
// KEYS[1] hash; ARGV: K, id, version, sj, available, mode, channel.
var stockScript = redis.NewScript(indexLua + `
local h, K, id = KEYS[1], ARGV[1], ARGV[2]
local cur = redis.call('HMGET', h, 'sv', 'cat', 'act', 'av', 'tr')
if ARGV[6] ~= 'del' and cur[1] and tonumber(cur[1]) >= tonumber(ARGV[3]) then return 0 end
local av = ARGV[5]
if ARGV[6] == 'del' then
  redis.call('HDEL', h, 'sj', 'av')
  av = '0'
else
  redis.call('HSET', h, 'sv', ARGV[3], 'sj', ARGV[4], 'av', av)
end
if ((tonumber(cur[4]) or 0) > 0) ~= (tonumber(av) > 0) then
  unindex(K, id, cur[2], cur[3], cur[4], cur[5])
  index(K, id, cur[2], cur[3], av, cur[5])
end
redis.call('PUBLISH', ARGV[7], id)
return 1
`)

// Change is one record to project.
type Change struct {
	ProductID string
	Product   *schemas.Product       // a catalog.products.v1 value
	Stock     *schemas.StockSnapshot // an inventory.stock.v1 value
	Tombstone bool                   // a nil value on the topic named by which of the two is meant
	IsStock   bool                   // with Tombstone: the stock snapshot was deleted
}

// Apply writes changes in one pipeline and reports, per change, whether it
// was newer than what Redis held. Scripts missing from a restarted Redis
// are loaded and the batch retried (it is idempotent).
func (s *Store) Apply(ctx context.Context, changes []Change) ([]bool, error) {
	applied := make([]bool, 0, len(changes))
	for len(changes) > 0 {
		// Pipelines of a bounded size keep each round trip well inside the
		// client's read timeout.
		n := min(len(changes), applyChunk)
		done, err := s.apply(ctx, changes[:n])
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			if err := s.LoadScripts(ctx); err != nil {
				return nil, err
			}
			done, err = s.apply(ctx, changes[:n])
		}
		if err != nil {
			return nil, err
		}
		applied = append(applied, done...)
		changes = changes[n:]
	}
	return applied, nil
}

const applyChunk = 200

// LoadScripts loads the Lua scripts into Redis's script cache.
func (s *Store) LoadScripts(ctx context.Context) error {
	for _, sc := range []*redis.Script{productScript, stockScript} {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("catalog: load scripts: %w", err)
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, changes []Change) ([]bool, error) {
	cmds := make([]*redis.Cmd, len(changes))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range changes {
			sc, keys, args, err := s.scriptArgs(c)
			if err != nil {
				return err
			}
			cmds[i] = sc.EvalSha(ctx, p, keys, args...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: project %d records: %w", len(changes), err)
	}
	applied := make([]bool, len(changes))
	for i, c := range cmds {
		n, err := c.Int()
		if err != nil {
			return nil, fmt.Errorf("catalog: project %s: %w", changes[i].ProductID, err)
		}
		applied[i] = n == 1
	}
	return applied, nil
}

func (s *Store) scriptArgs(c Change) (*redis.Script, []string, []any, error) {
	keys := []string{s.productKey(c.ProductID)}
	switch {
	case c.Tombstone && c.IsStock:
		return stockScript, keys, []any{s.k, c.ProductID, 0, "", 0, "del", s.channel}, nil
	case c.Tombstone:
		return productScript, keys, []any{s.k, c.ProductID, 0, "", "", "0", "", s.channel, "del"}, nil
	case c.Stock != nil:
		st := domain.Stock{OnHand: c.Stock.OnHand, Reserved: c.Stock.Reserved, Available: c.Stock.Available, Version: c.Stock.Version}
		sj, err := json.Marshal(st)
		if err != nil {
			return nil, nil, nil, err
		}
		return stockScript, keys, []any{s.k, c.ProductID, c.Stock.Version, sj, max(c.Stock.Available, 0), "", s.channel}, nil
	case c.Product != nil:
		pj, err := json.Marshal(c.Product)
		if err != nil {
			return nil, nil, nil, err
		}
		act := "0"
		if c.Product.Active {
			act = "1"
		}
		tr := strings.Join(domain.IndexPrefixes(c.Product.Name), " ")
		return productScript, keys, []any{s.k, c.ProductID, c.Product.Version, pj, c.Product.CategoryID, act, tr, s.channel, ""}, nil
	}
	return nil, nil, nil, errors.New("catalog: empty change")
}

// Record is what Redis holds for one product.
type Record struct {
	Product *schemas.Product // nil if no (live) product record
	Stock   *domain.Stock    // nil if no snapshot yet
}

// View composes the product's view; ok is false for an unknown or inactive product.
func (r Record) View() (domain.View, bool) {
	if r.Product == nil || !r.Product.Active {
		return domain.View{}, false
	}
	return domain.Compose(*r.Product, r.Stock), true
}

var recordFields = []string{"pj", "sj"}

func decodeRecord(vals []any) (Record, error) {
	var r Record
	if pj, ok := vals[0].(string); ok && pj != "" {
		var p schemas.Product
		if err := json.Unmarshal([]byte(pj), &p); err != nil {
			return Record{}, fmt.Errorf("catalog: stored product: %w", err)
		}
		r.Product = &p
	}
	if sj, ok := vals[1].(string); ok && sj != "" {
		var st domain.Stock
		if err := json.Unmarshal([]byte(sj), &st); err != nil {
			return Record{}, fmt.Errorf("catalog: stored stock: %w", err)
		}
		r.Stock = &st
	}
	return r, nil
}

// Get reads one product's record.
func (s *Store) Get(ctx context.Context, id string) (Record, error) {
	vals, err := s.rdb.HMGet(ctx, s.productKey(id), recordFields...).Result()
	if err != nil {
		return Record{}, fmt.Errorf("catalog: read %s: %w", id, err)
	}
	return decodeRecord(vals)
}

// ProductVersion returns the stored version of a product record (0 if none).
func (s *Store) ProductVersion(ctx context.Context, id string) (int64, error) {
	v, err := s.rdb.HGet(ctx, s.productKey(id), "pv").Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("catalog: read version of %s: %w", id, err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("catalog: stored version of %s: %w", id, err)
	}
	return n, nil
}

// getMany reads several records in one pipeline.
func (s *Store) getMany(ctx context.Context, ids []string) ([]Record, error) {
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.productKey(id), recordFields...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: read %d products: %w", len(ids), err)
	}
	out := make([]Record, len(ids))
	for i, c := range cmds {
		r, err := decodeRecord(c.Val())
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}
