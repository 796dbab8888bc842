package orderview

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Pipeliner is what WriteBatch needs of a Redis client (*redis.Client has it).
type Pipeliner interface {
	redis.Scripter
	Pipeline() redis.Pipeliner
}

// WriteBatch stores every view as Write does — each one only if the stored
// view is older, final ones expiring after finalTTL — in one pipeline: one
// round trip for the batch instead of one per view. written[i] reports
// whether views[i] was written. When Redis
// does not have the script cached (a restart), it loads it and sends the
// batch again; every write is a version compare, so repeating is harmless.
func WriteBatch(ctx context.Context, rdb Pipeliner, prefix string, views []View, finalTTL time.Duration) ([]bool, error) {
	if len(views) == 0 {
		return nil, nil
	}
	bodies := make([][]byte, len(views))
	for i, v := range views {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("orderview: encode %s: %w", v.OrderID, err)
		}
		bodies[i] = b
	}
	cmds := make([]*redis.Cmd, len(views))
	for attempt := 0; ; attempt++ {
		pipe := rdb.Pipeline()
		for i, v := range views {
			cmds[i] = writeScript.EvalSha(ctx, pipe, []string{Key(prefix, v.OrderID)}, v.Version, bodies[i], ttlMillis(v, finalTTL))
		}
		_, err := pipe.Exec(ctx)
		if err != nil && attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
			if err := writeScript.Load(ctx, rdb).Err(); err != nil {
				return nil, fmt.Errorf("orderview: load write script: %w", err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("orderview: write %d views: %w", len(views), err)
		}
		break
	}
	written := make([]bool, len(views))
	for i, c := range cmds {
		n, err := c.Int()
		if err != nil {
			return nil, fmt.Errorf("orderview: write %s: %w", views[i].OrderID, err)
		}
		written[i] = n == 1
	}
	return written, nil
}
