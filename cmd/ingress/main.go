// Command ingress is the HTTP intake for orders: validate, produce durably to Kafka, answer 202.
package main

import (
	"context"
	"os"

	"github.com/orderpipe/orderpipe/internal/ingress"
	"github.com/orderpipe/orderpipe/pkg/app"
)

func main() {
	var cfg ingress.Config
	os.Exit(app.Main("ingress", ingress.DefaultAddr, &cfg, func(ctx context.Context, env *app.Env) (app.Service, error) {
		return ingress.New(ctx, env, cfg)
	}))
}
