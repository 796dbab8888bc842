package e2e_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/ingress"
	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/internal/inventory"
	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/localstack"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/streams"
)

// pipeline is one test's whole order pipeline: its own topics (prefix),
// Redis keys (prefix) and database; the ingress and the inventory-processor
// in this process; the order-processor as a child process.
type pipeline struct {
	t       *testing.T
	kafka   *testenv.KafkaEnv
	names   kafka.Names
	redis   *testenv.RedisEnv
	dsn     string
	pg      *localstack.Postgres // nil unless the test owns its PostgreSQL
	pool    *pgxpool.Pool
	url     string // the ingress
	orders  *processes
	seedCl  *kgo.Client
	stopInv func()
}

// newPipeline starts everything but the order-processor. dsn is the
// database; pg is set when the test may stop it.
func newPipeline(t *testing.T, dsn string, pg *localstack.Postgres) *pipeline {
	t.Helper()
	p := &pipeline{t: t, kafka: testenv.Kafka(t), redis: testenv.Redis(t), dsn: dsn, pg: pg}
	p.names = kafka.TopicNames(p.kafka.Config.TopicPrefix)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kafka.Apply(ctx, p.kafka.Client(t), kafka.Spec(p.kafka.Config, kafka.SpecOptions{}), io.Discard); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	p.pool = pool
	cl, err := kafka.NewProducer(p.kafka.Config, nil, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	p.seedCl = cl
	p.startIngress()
	p.stopInv = p.startInventory()
	p.orders = newProcesses(t, binary(t, "order-processor"), p.processorEnv())
	return p
}

func (p *pipeline) startIngress() {
	t := p.t
	cfg := ingress.Config{Kafka: p.kafka.Config, Redis: config.Redis{URL: p.redis.URL, KeyPrefix: p.redis.Prefix},
		Postgres: config.Postgres{URL: p.dsn, MaxConns: 2}, Intake: intake.Defaults(), MaxBodyBytes: 64 << 10, MaxWait: 30 * time.Second}
	cfg.Intake.ScopeRPS = 0
	cfg.Auth.Refresh = time.Minute
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	common := app.Common{
		HTTP: config.HTTP{Addr: "127.0.0.1:0", ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 40 * time.Second, IdleTimeout: time.Minute, DrainTimeout: 10 * time.Second},
		Log: config.Log{Level: "error", Format: "text"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped, ready := make(chan error, 1), make(chan string, 1)
	go func() {
		stopped <- app.Run(ctx, "ingress", common, func(ctx context.Context, env *app.Env) (app.Service, error) {
			return ingress.New(ctx, env, cfg)
		}, app.Options{LogOutput: io.Discard, Ready: func(addr string) { ready <- addr }})
	}()
	select {
	case addr := <-ready:
		p.url = "http://" + addr
	case err := <-stopped:
		cancel()
		t.Fatalf("ingress did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("ingress did not start in 60s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("ingress stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("ingress did not stop")
		}
	})
}

// startInventory runs the inventory-processor in this process.
func (p *pipeline) startInventory() func() {
	cfg := streams.DefaultConfig()
	cfg.InstanceID = "inventory-0"
	cfg.SessionTimeout = 6 * time.Second
	proc, err := streams.New(inventory.NewProcessor(p.names).Topology(), p.kafka.Config, cfg, streams.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				p.t.Errorf("inventory-processor: %v", err)
			}
		})
	}
	p.t.Cleanup(stop)
	return stop
}

// processorEnv is the order-processor's environment.
func (p *pipeline) processorEnv() []string {
	kc := p.kafka.Config
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"KAFKA_BROKERS=" + strings.Join(kc.Brokers, ","),
		"TOPIC_PREFIX=" + kc.TopicPrefix,
		"PRODUCT_PARTITIONS=" + strconv.Itoa(kc.ProductPartitions),
		"ORDER_PARTITIONS=" + strconv.Itoa(kc.OrderPartitions),
		"KAFKA_REPLICATION_FACTOR=" + strconv.Itoa(kc.ReplicationFactor),
		"KAFKA_MIN_INSYNC_REPLICAS=" + strconv.Itoa(kc.MinInsyncReplicas),
		"DATABASE_URL=" + p.dsn,
		"DATABASE_MAX_CONNS=4",
		"REDIS_URL=" + p.redis.URL,
		"REDIS_KEY_PREFIX=" + p.redis.Prefix,
		"HTTP_ADDR=127.0.0.1:0",
		"LOG_LEVEL=info",
		"LOG_FORMAT=text",
		"STREAMS_COMMIT_INTERVAL=100ms",
		"KAFKA_SESSION_TIMEOUT=6s",
		"KAFKA_TRANSACTION_TIMEOUT=10s",
	}
}

var (
	buildMu  sync.Mutex
	binaries = map[string]string{}
)

// binary builds cmd/<name> once per test process (without -race: it is a
// system under test, run as a real OS process) and returns its path.
func binary(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := binaries[name]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "orderpipe-e2e-bin-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	out, err := exec.Command(goBinary(), "build", "-o", p, "github.com/orderpipe/orderpipe/cmd/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	binaries[name] = p
	return p
}

// goBinary is the go command that runs this test (GOROOT/bin/go, as `go
// env GOROOT` says), else the one on PATH.
func goBinary() string {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if p := filepath.Join(strings.TrimSpace(string(out)), "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// processes runs slots of one service binary as child processes.
type processes struct {
	t    testing.TB
	bin  string
	env  []string
	dir  string
	mu   sync.Mutex
	cmds map[string]*exec.Cmd
	runs int
}

func newProcesses(t testing.TB, bin string, env []string) *processes {
	ps := &processes{t: t, bin: bin, env: env, dir: t.TempDir(), cmds: map[string]*exec.Cmd{}}
	t.Cleanup(func() {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		for slot, cmd := range ps.cmds {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			waitOrKill(cmd, 20*time.Second)
			delete(ps.cmds, slot)
		}
		if t.Failed() || os.Getenv("E2E_TEST_LOGS") != "" {
			logs, _ := filepath.Glob(filepath.Join(ps.dir, "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				if len(b) > 8000 {
					b = b[len(b)-8000:]
				}
				t.Logf("--- %s (tail) ---\n%s", filepath.Base(l), b)
			}
		}
	})
	return ps
}

func waitOrKill(cmd *exec.Cmd, d time.Duration) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
	}
}

// start runs slot as a new process, with extra environment variables.
func (ps *processes) start(slot string, env ...string) {
	ps.t.Helper()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.cmds[slot]; ok {
		ps.t.Fatalf("slot %s already runs", slot)
	}
	ps.runs++
	logf, err := os.Create(filepath.Join(ps.dir, fmt.Sprintf("%02d-%s.log", ps.runs, slot)))
	if err != nil {
		ps.t.Fatal(err)
	}
	defer func() { _ = logf.Close() }() // the child has its own descriptor
	cmd := exec.Command(ps.bin)
	cmd.Env = append(append(append([]string(nil), ps.env...), "INSTANCE_ID="+slot), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		ps.t.Fatal(err)
	}
	ps.cmds[slot] = cmd
}

// kill sends SIGKILL: no shutdown code runs, transactions are left open.
func (ps *processes) kill(slot string) {
	ps.t.Helper()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	cmd, ok := ps.cmds[slot]
	if !ok {
		ps.t.Fatalf("slot %s does not run", slot)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		ps.t.Fatal(err)
	}
	_ = cmd.Wait()
	delete(ps.cmds, slot)
}

// privatePostgres starts a PostgreSQL only this test uses (so it can stop
// it), or skips when the environment does not allow it.
func privatePostgres(t *testing.T) *localstack.Postgres {
	t.Helper()
	if os.Getenv("LOCALSTACK_TEST") != "1" {
		t.Skip("set LOCALSTACK_TEST=1 to start a private PostgreSQL (make test does)")
	}
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := localstack.StartPostgres(ctx, localstack.PostgresOptions{Dir: filepath.Join(root, ".local", "localstack-test", t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Kill() })
	return pg
}
