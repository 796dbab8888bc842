// Package testenv gives tests their servers. Kafka(t), Postgres(t) and
// Redis(t) use the real servers `make test` started (KAFKA_BROKERS,
// DATABASE_URL, REDIS_URL); without them Kafka falls back to testcontainers
// (only in a build with -tags testcontainers, decision 0026)
// when a Docker engine is reachable, else to an in-process kfake broker,
// and PostgreSQL/Redis tests are skipped. With ORDERPIPE_REQUIRE_REAL=1 (set
// by `make test`) a missing server fails the test instead.
//
// Each test gets its own topic prefix, database and Redis key prefix, so
// tests run in parallel without seeing each other's data.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Kinds of server a helper can hand out.
const (
	KindReal           = "real"
	KindTestcontainers = "testcontainers"
	KindKfake          = "kfake"
)

func requireReal() bool { return os.Getenv("ORDERPIPE_REQUIRE_REAL") == "1" }

var announced sync.Map

// announce logs which server a helper uses, once per process and kind on
// stderr (visible with -v or on failure) and on every test's log.
func announce(t testing.TB, what, kind, where string) {
	t.Helper()
	msg := fmt.Sprintf("testenv: %s = %s (%s)", what, kind, where)
	t.Log(msg)
	if _, loaded := announced.LoadOrStore(what+kind, true); !loaded {
		fmt.Fprintln(os.Stderr, msg)
	}
}

func missing(t testing.TB, what, env string) {
	t.Helper()
	if requireReal() {
		t.Fatalf("testenv: %s needs %s (ORDERPIPE_REQUIRE_REAL=1); run the tests with `make test`", what, env)
	}
	t.Skipf("testenv: %s not configured (%s unset); `make test` starts a real one", what, env)
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9]+`)

// uniqueName returns a short lower-case name from the test name plus random
// bytes, safe for topic prefixes, database names and Redis keys.
func uniqueName(t testing.TB) string {
	base := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(base) > 24 {
		base = base[len(base)-24:]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strings.Trim(base, "-") + "-" + hex.EncodeToString(b[:])
}
