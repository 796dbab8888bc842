// Command inventory-processor reserves stock per product partition with Kafka exactly-once transactions.
package main

import (
	"context"
	"os"

	"github.com/orderpipe/orderpipe/internal/inventory"
	"github.com/orderpipe/orderpipe/pkg/app"
)

func main() {
	var cfg inventory.Config
	os.Exit(app.Main("inventory-processor", inventory.DefaultAddr, &cfg, func(ctx context.Context, env *app.Env) (app.Service, error) {
		return inventory.New(ctx, env, cfg)
	}))
}
