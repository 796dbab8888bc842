package localstack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// These tests start real servers; they run only with LOCALSTACK_TEST=1.
func needStack(t *testing.T) string {
	t.Helper()
	if os.Getenv("LOCALSTACK_TEST") != "1" {
		t.Skip("set LOCALSTACK_TEST=1 to start real Kafka, PostgreSQL and Redis")
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// A fixed dir per test: a run that died without cleaning up is swept by
	// the next run's Up.
	return filepath.Join(root, ".local", "localstack-test", t.Name())
}

func testOut(t *testing.T) *testWriter { return &testWriter{t} }

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestStackUpDown(t *testing.T) {
	dir := needStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	start := time.Now()
	s, err := Up(ctx, StackOptions{Dir: dir, Out: testOut(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Down(context.Background(), dir) })
	t.Logf("Up took %s", time.Since(start))

	env := s.Env()
	for _, k := range []string{"KAFKA_BROKERS", "DATABASE_URL", "REDIS_URL"} {
		if env[k] == "" {
			t.Fatalf("Env()[%s] is empty: %v", k, env)
		}
	}

	// Kafka: metadata lists the broker.
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(env["KAFKA_BROKERS"], ",")...))
	if err != nil {
		t.Fatal(err)
	}
	brokers, err := kadm.NewClient(cl).ListBrokers(ctx)
	cl.Close()
	if err != nil || len(brokers) != 1 {
		t.Fatalf("kafka brokers = %v, %v; want 1", brokers, err)
	}

	// PostgreSQL: SELECT 1 as the app user.
	conn, err := pgx.Connect(ctx, env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	_ = conn.Close(ctx)

	// Redis: PING, and the settings the idempotency store relies on.
	opt, err := redis.ParseURL(env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	cfg, err := rdb.ConfigGet(ctx, "*").Result()
	_ = rdb.Close()
	if err != nil || cfg["appendonly"] != "yes" || cfg["maxmemory-policy"] != "noeviction" {
		t.Fatalf("redis config appendonly=%q maxmemory-policy=%q (%v)", cfg["appendonly"], cfg["maxmemory-policy"], err)
	}

	// Crash and restart PostgreSQL and Redis: same port, data kept.
	restartKeepsData(ctx, t, s)

	// Down from "another process": only the dir is known.
	pids := []int{s.Kafka.BrokerPID(0), s.Postgres.PID(), s.Redis.PID()}
	ports := []int{s.Kafka.state.Nodes[0].Port, s.Kafka.state.Nodes[0].ControllerPort, s.Postgres.Port(), s.Redis.Port()}
	for _, pid := range pids {
		if pid == 0 {
			t.Fatalf("a server has no pid: %v", pids)
		}
	}
	start = time.Now()
	if err := Down(ctx, dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("Down took %s", time.Since(start))
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still alive after Down", pid)
		}
	}
	if left := strays(dir); len(left) > 0 {
		t.Errorf("processes left in %s: %v", dir, left)
	}
	for _, p := range ports {
		if !portFree(p) {
			t.Errorf("port %d still in use after Down", p)
		}
	}
	if err := Down(ctx, dir); err != nil {
		t.Errorf("second Down: %v", err)
	}
}

func TestKafkaThreeBrokersKillRestart(t *testing.T) {
	dir := needStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, _ := RepoRoot()
	lib, err := EnsureKafkaJars(ctx, root, testOut(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := Down(ctx, dir); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	k, err := StartKafka(ctx, KafkaOptions{Dir: dir, LibDir: lib, Brokers: 3, Out: testOut(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Stop(context.Background()); _ = sweep(context.Background(), dir) })
	t.Logf("3 brokers up in %s", time.Since(start))

	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(k.Bootstrap(), ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 6, -1, nil, "localstack.rf3"); err != nil { // -1: default.replication.factor (3)
		t.Fatal(err)
	}
	waitISR(ctx, t, adm, "localstack.rf3", 3)

	pid := k.BrokerPID(1)
	if err := k.KillBroker(1); err != nil {
		t.Fatal(err)
	}
	if alive(pid) || k.BrokerPID(1) != 0 {
		t.Fatalf("broker 1 (pid %d) still alive after KillBroker", pid)
	}
	waitISR(ctx, t, adm, "localstack.rf3", 2) // min.insync.replicas=2: still writable

	start = time.Now()
	if err := k.StartBroker(ctx, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker 1 restarted in %s", time.Since(start))
	brokers, err := adm.ListBrokers(ctx)
	if err != nil || len(brokers) != 3 {
		t.Fatalf("brokers after restart = %v, %v; want 3", brokers.NodeIDs(), err)
	}
	waitISR(ctx, t, adm, "localstack.rf3", 3)

	start = time.Now()
	if err := k.StopBroker(ctx, 2); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker 2 stopped cleanly in %s", time.Since(start))
	if err := k.StartBroker(ctx, 2); err != nil {
		t.Fatal(err)
	}
	waitISR(ctx, t, adm, "localstack.rf3", 3)
	start = time.Now()
	if err := k.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster stopped in %s", time.Since(start))
	if left := strays(dir); len(left) > 0 {
		t.Errorf("processes left in %s: %v", dir, left)
	}
}

// waitISR waits until every partition of topic has exactly n in-sync replicas.
func waitISR(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, n int) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(90 * time.Second)
	for {
		md, err := adm.Metadata(ctx, topic)
		ok := err == nil && len(md.Topics[topic].Partitions) > 0
		if ok {
			for _, p := range md.Topics[topic].Partitions {
				if p.Err != nil || len(p.ISR) != n {
					ok = false
				}
			}
		}
		if ok {
			t.Logf("%s: ISR %d after %s", topic, n, time.Since(start).Round(10*time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: ISR never reached %d: %v %v", topic, n, md.Topics[topic].Partitions, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// restartKeepsData writes to PostgreSQL and Redis, kills both with SIGKILL,
// starts them again and reads the data back on the same URLs.
func restartKeepsData(ctx context.Context, t *testing.T, s *Stack) {
	t.Helper()
	conn, err := pgx.Connect(ctx, s.Postgres.DSN())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	opt, _ := redis.ParseURL(s.Redis.URL())
	rdb := redis.NewClient(opt)
	defer func() { _ = rdb.Close() }()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // appendfsync everysec

	pgPID, redisPID := s.Postgres.PID(), s.Redis.PID()
	if err := s.Postgres.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Redis.Kill(); err != nil {
		t.Fatal(err)
	}
	if alive(pgPID) || alive(redisPID) || s.Postgres.PID() != 0 || s.Redis.PID() != 0 {
		t.Fatalf("servers still alive after Kill")
	}
	if err := s.Postgres.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Redis.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, s.Postgres.DSN())
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		t.Errorf("postgres after crash: v = %d, %v", v, err)
	}
	_ = conn.Close(ctx)
	if got, err := rdb.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("redis after crash: k = %q, %v", got, err)
	}
}
