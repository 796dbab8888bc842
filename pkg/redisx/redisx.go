// Package redisx builds go-redis clients from configuration.
package redisx

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// NewClient returns a client for cfg with short timeouts: a Redis outage must
// cost milliseconds, not seconds, on the request path.
func NewClient(cfg config.Redis) (*redis.Client, error) {
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.DialTimeout = 500 * time.Millisecond
	opts.ReadTimeout = 250 * time.Millisecond
	opts.WriteTimeout = 250 * time.Millisecond
	opts.PoolTimeout = 500 * time.Millisecond
	opts.MaxRetries = 1
	return redis.NewClient(opts), nil
}
