// Command catalog-api serves products, stock, carts and catalog admin from Redis with an in-process L1.
package main

import (
	"context"
	"os"

	"github.com/orderpipe/orderpipe/internal/catalog"
	"github.com/orderpipe/orderpipe/pkg/app"
)

func main() {
	var cfg catalog.Config
	os.Exit(app.Main("catalog-api", catalog.DefaultAddr, &cfg, func(ctx context.Context, env *app.Env) (app.Service, error) {
		return catalog.New(ctx, env, cfg)
	}))
}
