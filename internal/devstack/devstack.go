// Package devstack runs the whole pipeline on one machine for `make run` /
// `orderpipe dev`: an embedded Kafka (kfake, persisted to disk), real
// PostgreSQL and Redis from the OS packages, the four services in-process,
// and one base URL in front of them.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/httpserver"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/localstack"
)

// Options configure the dev stack.
type Options struct {
	Addr       string // base URL listen address
	Dir        string // data and logs
	KafkaAddr  string // embedded Kafka listen address ("127.0.0.1:0" for any port)
	Partitions int
	Out        io.Writer
	// Seed, when set, loads demo data once the stack is up.
	Seed func(ctx context.Context, kc config.Kafka, out io.Writer) error
}

// Run brings the stack up, announces the base URL, and runs until ctx is
// done; then it stops every service and server it started.
func Run(ctx context.Context, opts Options) (err error) {
	out := opts.Out
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "orderpipe dev: data and logs in %s\n", dir)

	stack, err := localstack.Up(ctx, localstack.StackOptions{Dir: filepath.Join(dir, "servers"), NoKafka: true, Out: out})
	if err != nil {
		return fmt.Errorf("start PostgreSQL and Redis: %w", err)
	}
	defer func() {
		fmt.Fprintln(out, "orderpipe dev: stopping PostgreSQL and Redis")
		err = errors.Join(err, stack.Down(context.WithoutCancel(ctx)))
	}()

	cluster, brokers, err := startKafka(filepath.Join(dir, "kafka"), opts.KafkaAddr)
	if err != nil {
		return err
	}
	defer cluster.Close()
	fmt.Fprintf(out, "kafka: embedded kfake broker on %s (data in %s)\n", brokers, filepath.Join(dir, "kafka"))

	env := stack.Env()
	env["KAFKA_BROKERS"] = brokers
	env["KAFKA_REPLICATION_FACTOR"] = "1"
	env["KAFKA_MIN_INSYNC_REPLICAS"] = "1"
	env["ORDER_PARTITIONS"] = strconv.Itoa(opts.Partitions)
	env["PRODUCT_PARTITIONS"] = strconv.Itoa(opts.Partitions)
	lookup := func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}

	var kc config.Kafka
	s := config.NewSet("dev", lookup)
	kc.Register(s)
	if err := errors.Join(s.Parse(nil), kc.Validate()); err != nil {
		return err
	}
	if err := applyTopics(ctx, kc, out); err != nil {
		return err
	}

	svcCtx, stopServices := context.WithCancel(ctx)
	defer stopServices()
	addrs, wait, err := startServices(svcCtx, lookup, filepath.Join(dir, "logs"), out)
	if err != nil {
		stopServices()
		wait()
		return err
	}
	defer wait()
	defer stopServices()

	if err := waitReady(ctx, addrs, 90*time.Second); err != nil {
		return err
	}
	if opts.Seed != nil {
		if err := opts.Seed(ctx, kc, out); err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
	}
	return serveRouter(ctx, opts.Addr, addrs, out)
}

func startKafka(dir, addr string) (*kfake.Cluster, string, error) {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("kafka address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, "", fmt.Errorf("kafka address %q: %w", addr, err)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			var lc net.ListenConfig
			return lc.Listen(context.Background(), network, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		}))
	if err != nil {
		return nil, "", fmt.Errorf("embedded kafka on %s: %w", addr, err)
	}
	return cluster, cluster.ListenAddrs()[0], nil
}

func applyTopics(ctx context.Context, kc config.Kafka, out io.Writer) error {
	cl, err := kafka.NewClient(kc, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := kafka.Apply(ctx, cl, kafka.Spec(kc, kafka.SpecOptions{}), io.Discard)
	if err != nil {
		return fmt.Errorf("topics apply: %w", err)
	}
	fmt.Fprintf(out, "topics: %d created, %d updated, %d unchanged\n", len(res.Created), len(res.Updated), len(res.Unchanged))
	return nil
}

// startServices starts the four services in-process on free loopback ports,
// each logging to its own file. wait blocks until all of them have stopped.
func startServices(ctx context.Context, lookup func(string) (string, bool), logDir string, out io.Writer) (map[string]string, func(), error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, func() {}, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	addrs := map[string]string{}
	ready := make(chan struct{}, 4)
	failed := make(chan error, 4)
	for _, svc := range services() {
		var common app.Common
		svcLookup := func(k string) (string, bool) {
			if k == "HTTP_ADDR" {
				return "127.0.0.1:0", true
			}
			return lookup(k)
		}
		if err := app.Load(svc.name, svc.defaultAddr, nil, svcLookup, &common, svc.config); err != nil {
			return nil, wg.Wait, err
		}
		logFile, err := os.Create(filepath.Join(logDir, svc.name+".log"))
		if err != nil {
			return nil, wg.Wait, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = logFile.Close() }()
			err := app.Run(ctx, svc.name, common, svc.build, app.Options{LogOutput: logFile, Ready: func(addr string) {
				mu.Lock()
				addrs[svc.name] = addr
				mu.Unlock()
				ready <- struct{}{}
			}})
			if err != nil {
				fmt.Fprintf(out, "%s: %v (log: %s)\n", svc.name, err, logFile.Name())
				failed <- fmt.Errorf("%s: %w", svc.name, err)
			}
		}()
	}
	for range services() {
		select {
		case <-ready:
		case err := <-failed:
			return nil, wg.Wait, err
		case <-ctx.Done():
			return nil, wg.Wait, ctx.Err()
		}
	}
	return addrs, wg.Wait, nil
}

func waitReady(ctx context.Context, addrs map[string]string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 3 * time.Second}
	for name, addr := range addrs {
		for {
			res := probe(ctx, client, "http://"+addr+"/health/ready")
			if res.Status == http.StatusOK {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s did not become ready: status %d %s %s", name, res.Status, res.Body, res.Error)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func serveRouter(ctx context.Context, addr string, addrs map[string]string, out io.Writer) error {
	cfg := config.HTTP{Addr: addr, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, DrainTimeout: 10 * time.Second}
	srv, err := httpserver.Listen(cfg, newRouter(addrs), discardLogger())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "orderpipe ready: http://%s\n", srv.Addr())
	for _, name := range sortedNames(addrs) {
		fmt.Fprintf(out, "  %-20s http://%s/services/%s/  (direct: http://%s)\n", name, srv.Addr(), name, addrs[name])
	}
	fmt.Fprintln(out, "press Ctrl-C to stop")
	return srv.Serve(ctx)
}
