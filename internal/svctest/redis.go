package svctest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/pkg/localstack"
)

// PrivateRedis starts a Redis only t uses, so it can stop and start it,
// under .local/<package dir>-test/<test name> (stopped at cleanup). It
// skips t unless LOCALSTACK_TEST=1 or ORDERPIPE_REQUIRE_REAL=1 (`make
// test`).
func PrivateRedis(t testing.TB) *localstack.Redis {
	t.Helper()
	if os.Getenv("LOCALSTACK_TEST") != "1" && os.Getenv("ORDERPIPE_REQUIRE_REAL") != "1" {
		t.Skip("starts a private Redis: set LOCALSTACK_TEST=1 or ORDERPIPE_REQUIRE_REAL=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := localstack.StartRedis(ctx, localstack.RedisOptions{Dir: LocalDir(t, root), Out: LogWriter(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Stop(context.Background()) })
	return rs
}

// LocalDir is the directory under root for t's private servers:
// .local/<package dir>-test/<test name>.
func LocalDir(t testing.TB, root string) string {
	pkg := "test"
	if wd, err := os.Getwd(); err == nil { // go test runs in the package's directory
		pkg = filepath.Base(wd)
	}
	return filepath.Join(root, ".local", pkg+"-test", t.Name())
}

// LogWriter writes each Write to t's log.
func LogWriter(t testing.TB) io.Writer { return testLog{t} }

type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}
