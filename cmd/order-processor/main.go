// Command order-processor runs the order saga with Kafka exactly-once transactions and persists orders to PostgreSQL exactly once.
package main

import (
	"context"
	"os"

	"github.com/orderpipe/orderpipe/internal/orders"
	"github.com/orderpipe/orderpipe/pkg/app"
)

func main() {
	var cfg orders.Config
	os.Exit(app.Main("order-processor", orders.DefaultAddr, &cfg, func(ctx context.Context, env *app.Env) (app.Service, error) {
		return orders.New(ctx, env, cfg)
	}))
}
