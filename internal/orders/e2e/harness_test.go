package e2e_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/ingress"
	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/internal/inventory"
	"github.com/orderpipe/orderpipe/internal/svctest"
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
	orders  *svctest.Procs
	seedCl  *kgo.Client
	stopInv func()
}

// newPipeline starts everything but the order-processor. dsn is the
// database; pg is set when the test may stop it.
func newPipeline(t *testing.T, dsn string, pg *localstack.Postgres) *pipeline {
	t.Helper()
	p := &pipeline{t: t, kafka: testenv.Kafka(t), redis: testenv.Redis(t), dsn: dsn, pg: pg}
	p.names = svctest.ApplyTopics(t, p.kafka.Config)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
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
	p.orders = newProcesses(t, svctest.Binary(t, "order-processor"), p.processorEnv())
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
	common := svctest.Common()
	common.HTTP.WriteTimeout, common.HTTP.DrainTimeout = 40*time.Second, 10*time.Second
	p.url = svctest.Start(t, "ingress", common, func(ctx context.Context, env *app.Env) (app.Service, error) {
		return ingress.New(ctx, env, cfg)
	}).URL
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

// newProcesses runs slots of bin as child processes, stopped with SIGTERM
// (SIGKILL after 20 s) at cleanup.
func newProcesses(t testing.TB, bin string, env []string) *svctest.Procs {
	ps := svctest.NewProcs(t, bin, env)
	ps.Grace, ps.LogsEnv = 20*time.Second, "E2E_TEST_LOGS"
	return ps
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
