package sink_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/pkg/localstack"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// TestSinkCatchesUpAfterPostgresCrash: PostgreSQL (a private instance) is
// killed mid-stream while the saga keeps producing — the producer is not
// affected, the sink pauses and retries — and restarted: every order lands,
// each status change and order version written by exactly one committed
// transaction (including batches whose COMMIT was cut off by the crash).
func TestSinkCatchesUpAfterPostgresCrash(t *testing.T) {
	if os.Getenv("LOCALSTACK_TEST") != "1" {
		t.Skip("set LOCALSTACK_TEST=1 to start a private PostgreSQL (make test does)")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := localstack.StartPostgres(ctx, localstack.PostgresOptions{
		Dir: filepath.Join(root, ".local", "localstack-test", t.Name()), Out: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Kill() })

	f := newFixture(t, ctx, pg.DSN())
	f.countAttempts(t, ctx)
	os := orders(t.Name(), 400)
	s := f.saga(t, "saga")
	reg, _ := f.runSink(t, f.sinkCfg("order-sink"), f.pool)

	f.produce(t, ctx, s, os[:200], 10)
	// Crash PostgreSQL while the sink is busy: wait for the first rows.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var n int
		if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&n); err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no rows before the crash")
		}
	}
	if err := pg.Kill(); err != nil {
		t.Fatal(err)
	}
	crashed := time.Now()
	f.produce(t, ctx, s, os[200:], 10) // the rest of the pipeline keeps going
	t.Logf("produced the second half with PostgreSQL down in %s", time.Since(crashed).Round(time.Millisecond))
	testenv.Eventually(t, 30*time.Second, "the sink reports itself paused while PostgreSQL is down", func() error {
		if paused := metric(t, reg, "orderpipe_order_sink_paused"); paused != 1 {
			return fmt.Errorf("orderpipe_order_sink_paused = %v", paused)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.waitRows(t, ctx, os, 2*time.Minute)
	f.verify(t, ctx, os)
	if h, o := f.maxAttempts(t, ctx); h != 1 || o != 1 {
		t.Errorf("records were written twice across the crash: history ×%d, orders ×%d", h, o)
	}
	if metric(t, reg, "orderpipe_order_sink_retries_total") == 0 {
		t.Error("the sink never retried: PostgreSQL was not down while it worked")
	}
	if metric(t, reg, "orderpipe_order_sink_paused") != 0 {
		t.Error("the sink still reports itself paused")
	}
}
