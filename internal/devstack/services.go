package devstack

import (
	"context"

	"github.com/orderpipe/orderpipe/internal/catalog"
	"github.com/orderpipe/orderpipe/internal/ingress"
	"github.com/orderpipe/orderpipe/internal/inventory"
	"github.com/orderpipe/orderpipe/internal/orders"
	"github.com/orderpipe/orderpipe/pkg/app"
)

// service is one of the four services, as the dev stack runs it in-process.
type service struct {
	name        string
	defaultAddr string
	config      app.Config
	build       app.Builder
}

// services lists the four services; each gets the same environment
// variables its own binary would read.
func services() []service {
	var ing ingress.Config
	var cat catalog.Config
	var inv inventory.Config
	var ord orders.Config
	return []service{
		{"ingress", ingress.DefaultAddr, &ing, func(ctx context.Context, env *app.Env) (app.Service, error) { return ingress.New(ctx, env, ing) }},
		{"catalog-api", catalog.DefaultAddr, &cat, func(ctx context.Context, env *app.Env) (app.Service, error) { return catalog.New(ctx, env, cat) }},
		{"inventory-processor", inventory.DefaultAddr, &inv, func(ctx context.Context, env *app.Env) (app.Service, error) { return inventory.New(ctx, env, inv) }},
		{"order-processor", orders.DefaultAddr, &ord, func(ctx context.Context, env *app.Env) (app.Service, error) { return orders.New(ctx, env, ord) }},
	}
}
