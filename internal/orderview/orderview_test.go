package orderview_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderpipe/orderpipe/internal/orderview"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

func TestWriteKeepsTheHighestVersion(t *testing.T) {
	env, rdb := redisClient(t)
	ctx := context.Background()

	if _, err := orderview.Read(ctx, rdb, env.Prefix, "o-1"); !errors.Is(err, orderview.ErrNotFound) {
		t.Fatalf("Read of a missing view = %v, want ErrNotFound", err)
	}
	v2 := orderview.View{OrderID: "o-1", Version: 2, Status: schemas.StatusConfirmed, CustomerID: "c", UpdatedAt: time.Now().UTC()}
	v1 := v2
	v1.Version, v1.Status = 1, schemas.StatusPending
	for _, step := range []struct {
		v    orderview.View
		want bool
	}{{v2, true}, {v1, false}, {v2, false}} {
		got, err := orderview.Write(ctx, rdb, env.Prefix, step.v, 0)
		if err != nil || got != step.want {
			t.Fatalf("Write(version %d) = %v, %v; want %v", step.v.Version, got, err, step.want)
		}
	}
	got, err := orderview.Read(ctx, rdb, env.Prefix, "o-1")
	if err != nil || got.Version != 2 || got.Status != schemas.StatusConfirmed || !got.Final() {
		t.Fatalf("Read = %+v, %v; want version 2 CONFIRMED", got, err)
	}
	if k := orderview.Key(env.Prefix, "o-1"); k != env.Prefix+"orderview:o-1" {
		t.Fatalf("Key = %q", k)
	}
}

func TestFromStateKeepsLinePrices(t *testing.T) {
	price := schemas.Money{Amount: 250, Currency: "USD"}
	s := schemas.OrderState{OrderID: "o", Version: 3, Status: schemas.StatusConfirmed,
		Lines:       []schemas.Line{{ProductID: "p1", Quantity: 2}, {ProductID: "p2", Quantity: 1}},
		PricedLines: []schemas.PricedLine{{LineNo: 2, ProductID: "p2", Quantity: 1, UnitPrice: price, LineTotal: price}}}
	v := orderview.FromState(s)
	if len(v.Lines) != 2 || v.Lines[0].UnitPrice != nil || v.Lines[1].UnitPrice == nil || v.Lines[1].LineTotal.Amount != 250 {
		t.Fatalf("FromState lines = %+v", v.Lines)
	}
}

// TestWriteBatch: a pipelined batch writes what is newer than the stored
// view and leaves the rest, like Write — also right after Redis lost its
// script cache (a restart): the batch loads the script and goes again.
func TestWriteBatch(t *testing.T) {
	env, rdb := redisClient(t)
	ctx := context.Background()

	view := func(id string, version int64) orderview.View {
		return orderview.View{OrderID: id, Version: version, Status: schemas.StatusPending, CustomerID: "c", UpdatedAt: time.Now().UTC()}
	}
	if _, err := orderview.Write(ctx, rdb, env.Prefix, view("b-2", 3), 0); err != nil {
		t.Fatal(err)
	}
	// No script cached: SCRIPT FLUSH is what a restarted Redis looks like
	// (clients using Script.Run fall back to EVAL, so this harms nobody).
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	written, err := orderview.WriteBatch(ctx, rdb, env.Prefix, []orderview.View{view("b-1", 1), view("b-2", 2), view("b-3", 5)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true}; len(written) != 3 || written[0] != want[0] || written[1] != want[1] || written[2] != want[2] {
		t.Fatalf("written %v, want %v", written, want)
	}
	for id, version := range map[string]int64{"b-1": 1, "b-2": 3, "b-3": 5} {
		if v, err := orderview.Read(ctx, rdb, env.Prefix, id); err != nil || v.Version != version {
			t.Errorf("%s: %+v, %v; want version %d", id, v, err, version)
		}
	}
	if written, err := orderview.WriteBatch(ctx, rdb, env.Prefix, nil, 0); err != nil || len(written) != 0 {
		t.Errorf("empty batch: %v, %v", written, err)
	}
}

// TestFinalViewsExpire: a view gets the final TTL once its order has an
// outcome — through Write and WriteBatch — and none while the order is in
// flight, however long that takes; TTL 0 keeps final views for ever.
func TestFinalViewsExpire(t *testing.T) {
	env, rdb := redisClient(t)
	ctx := context.Background()
	const ttl = time.Hour
	view := func(id string, version int64, status string) orderview.View {
		return orderview.View{OrderID: id, Version: version, Status: status, CustomerID: "c", UpdatedAt: time.Now().UTC()}
	}
	pttl := func(id string) time.Duration {
		d, err := rdb.PTTL(ctx, orderview.Key(env.Prefix, id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if _, err := orderview.Write(ctx, rdb, env.Prefix, view("t-1", 1, schemas.StatusPending), ttl); err != nil {
		t.Fatal(err)
	}
	if d := pttl("t-1"); d != -1 { // -1: the key exists and has no expiry
		t.Fatalf("pending view: PTTL %v, want none", d)
	}
	if _, err := orderview.Write(ctx, rdb, env.Prefix, view("t-1", 2, schemas.StatusConfirmed), ttl); err != nil {
		t.Fatal(err)
	}
	if d := pttl("t-1"); d <= ttl-time.Minute || d > ttl {
		t.Fatalf("confirmed view: PTTL %v, want about %v", d, ttl)
	}
	if _, err := orderview.WriteBatch(ctx, rdb, env.Prefix, []orderview.View{
		view("t-2", 3, schemas.StatusRejected), view("t-3", 1, schemas.StatusAccepted), view("t-4", 4, schemas.StatusCancelled),
	}, ttl); err != nil {
		t.Fatal(err)
	}
	for id, final := range map[string]bool{"t-2": true, "t-3": false, "t-4": true} {
		if d := pttl(id); final != (d > 0) {
			t.Errorf("%s (final %v): PTTL %v", id, final, d)
		}
	}
	if _, err := orderview.Write(ctx, rdb, env.Prefix, view("t-5", 2, schemas.StatusConfirmed), 0); err != nil {
		t.Fatal(err)
	}
	if d := pttl("t-5"); d != -1 {
		t.Fatalf("final TTL 0: PTTL %v, want none", d)
	}
}

// redisClient is a client of the test's Redis, closed when the test ends.
func redisClient(t *testing.T) (*testenv.RedisEnv, *redis.Client) {
	t.Helper()
	env := testenv.Redis(t)
	opts, err := redis.ParseURL(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return env, rdb
}
