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
	env := testenv.Redis(t)
	opts, err := redis.ParseURL(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer func() { _ = rdb.Close() }()
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
		got, err := orderview.Write(ctx, rdb, env.Prefix, step.v)
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
