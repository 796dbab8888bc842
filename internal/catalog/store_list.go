package catalog

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/orderpipe/orderpipe/internal/catalog/domain"
)

// Listing walks one index set in id order from the cursor and checks every
// filter on the composed view, so a page never shows a product that does not
// match what it shows. Keyset pagination on the immutable id means a walk
// returns every product that matches throughout exactly once, whatever is
// updated meanwhile.

// maxScan bounds the ids one page request examines; past it the page is cut
// short and its cursor continues where the scan stopped.
const maxScan = 2000

// Page is one listing page.
type Page struct {
	Items []domain.View
	// Next is the id to continue after; "" when the listing is complete.
	Next string
}

// baseIndex picks the index set to walk: the smallest search-prefix set when
// the query has terms, else the category and availability set.
func (s *Store) baseIndex(ctx context.Context, q domain.Query) (key string, exact bool, err error) {
	var candidates []string
	for _, t := range q.Terms {
		if k := domain.IndexKey(t); k != "" {
			candidates = append(candidates, s.k+"ix:t:"+k)
		}
	}
	if len(candidates) == 0 {
		key = s.k + "ix:all"
		if q.CategoryID != "" {
			key = s.k + "ix:c:" + q.CategoryID
		}
		if q.IsAvailable != nil {
			if *q.IsAvailable {
				key += ":a1"
			} else {
				key += ":a0"
			}
		}
		return key, len(q.Terms) == 0, nil
	}
	if len(candidates) == 1 {
		return candidates[0], false, nil
	}
	cmds := make([]*redis.IntCmd, len(candidates))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range candidates {
			cmds[i] = p.ZCard(ctx, k)
		}
		return nil
	}); err != nil {
		return "", false, fmt.Errorf("catalog: search index sizes: %w", err)
	}
	best := 0
	for i, c := range cmds {
		if c.Val() < cmds[best].Val() {
			best = i
		}
	}
	return candidates[best], false, nil
}

// List returns the page of q.
func (s *Store) List(ctx context.Context, q domain.Query) (Page, error) {
	key, exact, err := s.baseIndex(ctx, q)
	if err != nil {
		return Page{}, err
	}
	batch := int64(q.PageSize + 1)
	if !exact {
		batch = max(batch*2, 64)
	}
	after := q.After
	items := make([]domain.View, 0, q.PageSize+1)
	scanned := 0
	for {
		start := "-"
		if after != "" {
			start = "(" + after
		}
		ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: start, Stop: "+", ByLex: true, Count: batch}).Result()
		if err != nil {
			return Page{}, fmt.Errorf("catalog: list %s: %w", key, err)
		}
		if len(ids) == 0 {
			return Page{Items: items}, nil
		}
		recs, err := s.getMany(ctx, ids)
		if err != nil {
			return Page{}, err
		}
		for _, r := range recs {
			v, ok := r.View()
			if !ok || !matches(v, q) {
				continue
			}
			if len(items) == q.PageSize {
				// One more match exists: the page is full and continues.
				return Page{Items: items, Next: items[len(items)-1].ID}, nil
			}
			items = append(items, v)
		}
		scanned += len(ids)
		after = ids[len(ids)-1]
		if int64(len(ids)) < batch {
			return Page{Items: items}, nil
		}
		if scanned >= maxScan {
			return Page{Items: items, Next: after}, nil
		}
	}
}

func matches(v domain.View, q domain.Query) bool {
	if q.CategoryID != "" && v.CategoryID != q.CategoryID {
		return false
	}
	if q.IsAvailable != nil && v.Availability.IsAvailable != *q.IsAvailable {
		return false
	}
	return domain.Matches(v.Name, q.Terms)
}
