package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orderpipe/orderpipe/internal/orderstore"
	"github.com/orderpipe/orderpipe/pkg/config"
)

// runMigrate applies the PostgreSQL migrations (`orderpipe migrate`, the same
// the order-processor runs on start) or lists them (`orderpipe migrate status`).
func runMigrate(ctx context.Context, args []string, out io.Writer) error {
	sub := "up"
	if len(args) > 0 && (args[0] == "up" || args[0] == "status") {
		sub, args = args[0], args[1:]
	}
	var pc config.Postgres
	s := config.NewSet("orderpipe migrate [up|status]", nil)
	pc.Register(s)
	if err := s.Parse(args); err != nil {
		s.Usage(out)
		return err
	}
	if err := pc.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if sub == "status" {
		return orderstore.MigrationStatus(ctx, pc.URL, out)
	}
	applied, err := orderstore.Migrate(ctx, pc.URL, nil)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(out, "migrate: database is up to date")
		return nil
	}
	fmt.Fprintf(out, "migrate: applied %v\n", applied)
	return orderstore.MigrationStatus(ctx, pc.URL, out)
}
