package orderstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// NewReadOnlyPool returns a pool whose sessions are read-only
// (default_transaction_read_only): the read side cannot write even by
// mistake. Like pg.NewPool it connects lazily, so a service starts while
// PostgreSQL is down. Point DATABASE_URL at a replica to keep reads off the
// primary.
func NewReadOnlyPool(ctx context.Context, cfg config.Postgres) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pc.MaxConns = int32(cfg.MaxConns)
	pc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	if pc.ConnConfig.RuntimeParams["application_name"] == "" {
		pc.ConnConfig.RuntimeParams["application_name"] = "orderpipe-orderstore-reader"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres read-only pool: %w", err)
	}
	return pool, nil
}
