package devstack

import (
	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
)

// ConfigVars lists every setting any of the four services reads, for the
// README's configuration table (`orderpipe config`).
func ConfigVars() []config.Var {
	var vars []config.Var
	for _, svc := range services() {
		s := config.NewSet(svc.name, func(string) (string, bool) { return "", false })
		var common app.Common
		common.Register(s, svc.defaultAddr)
		svc.config.Register(s)
		for _, v := range s.Vars() {
			if v.Env == "HTTP_ADDR" {
				v.Default = ":8081 (ingress), :8082 (catalog-api), :8083 (order-processor), :8084 (inventory-processor)"
			}
			vars = append(vars, v)
		}
	}
	return vars
}
