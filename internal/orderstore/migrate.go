package orderstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockID is the advisory lock goose takes while migrating, so
// order-processors starting together migrate one at a time.
const migrationLockID = 0x6f72646572706970 // "orderpip"

// provider opens dsn with database/sql (pgx's driver) for goose.
func provider(dsn string, logger *slog.Logger) (*goose.Provider, *sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("migrate: DATABASE_URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations"),
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true), goose.WithSlog(logger))
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	return p, db, nil
}

// Migrate applies every pending migration and returns the versions applied.
// Safe to run from several processes at once (an advisory lock serialises them).
func Migrate(ctx context.Context, dsn string, logger *slog.Logger) ([]int64, error) {
	p, db, err := provider(dsn, logger)
	if err != nil {
		return nil, err
	}
	defer db.Close() //nolint:errcheck // closing a pool after use; nothing to do with its error
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := make([]int64, 0, len(res))
	for _, r := range res {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// MigrationStatus writes one line per known migration: version, file, and
// when it was applied (or "pending").
func MigrationStatus(ctx context.Context, dsn string, out io.Writer) error {
	p, db, err := provider(dsn, nil)
	if err != nil {
		return err
	}
	defer db.Close() //nolint:errcheck // closing a pool after use; nothing to do with its error
	st, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, s := range st {
		when := "pending"
		if s.State == goose.StateApplied {
			when = "applied " + s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(out, "%05d  %-28s %s\n", s.Source.Version, s.Source.Path, when)
	}
	return nil
}
