package testenv

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Postgres returns the URL of a fresh, empty database on the real server at
// DATABASE_URL; the database is dropped at cleanup.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("DATABASE_URL")
	if admin == "" {
		missing(t, "postgres", "DATABASE_URL")
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	announce(t, "postgres", KindReal, "PostgreSQL at "+u.Host+" from DATABASE_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("postgres at %s: %v", u.Host, err)
	}
	defer func() { _ = conn.Close(ctx) }()
	name := "t_" + strings.ReplaceAll(uniqueName(t), "-", "_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer func() { _ = c.Close(ctx) }()
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	u.Path = "/" + name
	return u.String()
}

// RedisEnv is a test's Redis: the server URL and a key prefix of its own.
type RedisEnv struct {
	URL    string
	Prefix string
}

// Redis returns the real Redis at REDIS_URL with a key prefix for t; keys
// under it are deleted at cleanup.
func Redis(t testing.TB) *RedisEnv {
	t.Helper()
	raw := os.Getenv("REDIS_URL")
	if raw == "" {
		missing(t, "redis", "REDIS_URL")
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	announce(t, "redis", KindReal, "Redis at "+opts.Addr+" from REDIS_URL")
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		t.Fatalf("redis at %s: %v", opts.Addr, err)
	}
	env := &RedisEnv{URL: raw, Prefix: uniqueName(t) + ":"}
	t.Cleanup(func() {
		defer func() { _ = rdb.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, env.Prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return env
}
