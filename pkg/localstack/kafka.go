package localstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// KafkaOptions configures StartKafka.
type KafkaOptions struct {
	Dir     string // root of the node dirs (node-0, node-1, …); created if missing
	LibDir  string // jars, from EnsureKafkaJars
	Brokers int    // 1 (default) or 3; every node is broker and controller
	HeapMB  int    // -Xmx per node; default 512
	// Log4jConfig is the log4j2 config file; default <LibDir>/../log4j2.yaml
	// (EnsureKafkaJars puts deploy/local/kafka/log4j2.yaml there).
	Log4jConfig string
	// Config overrides or adds server.properties entries on every node.
	Config map[string]string
	// ReadyTimeout bounds each wait for the cluster; default 90s.
	ReadyTimeout time.Duration
	// Security, when set, puts SASL/SCRAM (and optionally TLS) on the
	// client listener; default off (plaintext).
	Security *KafkaSecurity
	Out      io.Writer

	jvmArgs []string // extra broker JVM flags (the class-data archive build)
}

// Kafka is a running (or stopped) local KRaft cluster.
type Kafka struct {
	mu    sync.Mutex
	state kafkaState
	out   io.Writer
}

// kafkaState is what a later process needs to drive the cluster (stack.json).
type kafkaState struct {
	Dir          string
	LibDir       string
	Log4jConfig  string
	HeapMB       int
	ClusterID    string
	ReadyTimeout time.Duration
	JVMArgs      []string          `json:",omitempty"`
	Security     *kafkaSecState    `json:",omitempty"`
	Users        map[string]string `json:"-"`
	Nodes        []kafkaNode
}

type kafkaNode struct {
	ID             int
	Port           int
	ControllerPort int
	Stopped        bool // stopped on purpose (StopBroker/KillBroker), not expected in metadata
}

// StartKafka formats and starts a fresh cluster in opts.Dir (wiping what an
// earlier cluster left there) and waits until every node sees every broker.
func StartKafka(ctx context.Context, opts KafkaOptions) (*Kafka, error) {
	if opts.Brokers == 0 {
		opts.Brokers = 1
	}
	if opts.Brokers != 1 && opts.Brokers != 3 {
		return nil, fmt.Errorf("kafka: %d brokers: want 1 or 3", opts.Brokers)
	}
	if opts.HeapMB == 0 {
		opts.HeapMB = 512
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	if opts.Log4jConfig == "" {
		opts.Log4jConfig = filepath.Join(filepath.Dir(opts.LibDir), "log4j2.yaml")
	}
	dir, err := absDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if _, err := os.Stat(filepath.Join(opts.LibDir, jarsMarker)); err != nil {
		return nil, fmt.Errorf("kafka: no jars in %q (run EnsureKafkaJars): %w", opts.LibDir, err)
	}
	if err := sweep(ctx, dir); err != nil { // a crashed earlier run
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("kafka: clean %s: %w", dir, err)
	}
	ports, err := freePorts(2 * opts.Brokers)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	k := &Kafka{out: outOrDiscard(opts.Out), state: kafkaState{
		Dir: dir, LibDir: opts.LibDir, Log4jConfig: opts.Log4jConfig, HeapMB: opts.HeapMB,
		ClusterID: newClusterID(), ReadyTimeout: opts.ReadyTimeout, JVMArgs: opts.jvmArgs,
	}}
	if k.state.Security, err = prepareSecurity(dir, opts.Security); err != nil {
		return nil, err
	}
	if opts.Security != nil {
		k.state.Users = opts.Security.Users
	}
	for i := range opts.Brokers {
		k.state.Nodes = append(k.state.Nodes, kafkaNode{ID: i, Port: ports[2*i], ControllerPort: ports[2*i+1]})
	}
	start := time.Now()
	say(k.out, "kafka: formatting %d node(s) in %s (cluster id %s)…\n", opts.Brokers, dir, k.state.ClusterID)
	if err := k.format(ctx, opts.Config); err != nil {
		return nil, err
	}
	for i := range k.state.Nodes {
		if err := k.launch(i); err != nil {
			k.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // already failing
			return nil, err
		}
	}
	if err := k.waitReady(ctx); err != nil {
		k.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // already failing
		return nil, err
	}
	say(k.out, "kafka: %d broker(s) ready on %s in %s\n", opts.Brokers, k.Bootstrap(), time.Since(start).Round(100*time.Millisecond))
	return k, nil
}

// newClusterID makes a Kafka cluster id as StorageTool random-uuid does: 16
// random bytes, URL-safe base64 without padding, not starting with '-'.
func newClusterID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id := base64.RawURLEncoding.EncodeToString(b[:])
		if id[0] != '-' {
			return id
		}
	}
}

func (k *Kafka) nodeDir(i int) string { return filepath.Join(k.state.Dir, fmt.Sprintf("node-%d", i)) }
func (k *Kafka) pidFile(i int) string { return filepath.Join(k.nodeDir(i), "kafka.pid") }
func (k *Kafka) logFile(i int) string { return filepath.Join(k.nodeDir(i), "server.log") }
func (k *Kafka) propsFile(i int) string {
	return filepath.Join(k.nodeDir(i), "server.properties")
}

// serverProperties renders node i's config.
func (k *Kafka) serverProperties(i int, extra map[string]string) string {
	n := k.state.Nodes[i]
	rf, minISR := "1", "1"
	if len(k.state.Nodes) >= 3 {
		rf, minISR = "3", "2"
	}
	var voters []string
	for _, v := range k.state.Nodes {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", v.ID, v.ControllerPort))
	}
	props := map[string]string{
		"process.roles":                                    "broker,controller",
		"node.id":                                          fmt.Sprint(n.ID),
		"controller.quorum.voters":                         strings.Join(voters, ","),
		"listeners":                                        fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", n.Port, n.ControllerPort),
		"advertised.listeners":                             fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", n.Port),
		"controller.listener.names":                        "CONTROLLER",
		"inter.broker.listener.name":                       "PLAINTEXT",
		"listener.security.protocol.map":                   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs":                                         filepath.Join(k.nodeDir(i), "data"),
		"num.partitions":                                   "1",
		"default.replication.factor":                       rf,
		"min.insync.replicas":                              minISR,
		"offsets.topic.replication.factor":                 rf,
		"offsets.topic.num.partitions":                     "10", // default 50: slow first group join on 2 cores
		"transaction.state.log.replication.factor":         rf,
		"transaction.state.log.min.isr":                    minISR,
		"transaction.state.log.num.partitions":             "10",
		"share.coordinator.state.topic.replication.factor": rf,
		"share.coordinator.state.topic.min.isr":            minISR,
		"group.initial.rebalance.delay.ms":                 "0",
		"auto.create.topics.enable":                        "false", // topics are provisioned, as in production
	}
	if sec := k.state.Security; sec != nil {
		props["listeners"] = fmt.Sprintf("CLIENT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", n.Port, n.ControllerPort)
		props["advertised.listeners"] = fmt.Sprintf("CLIENT://127.0.0.1:%d", n.Port)
		maps.Copy(props, sec.brokerProperties())
	}
	maps.Copy(props, extra)
	var b strings.Builder
	b.WriteString("# generated by pkg/localstack\n")
	for _, key := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&b, "%s=%s\n", key, props[key])
	}
	return b.String()
}

// format writes every node's server.properties and formats its storage.
func (k *Kafka) format(ctx context.Context, extra map[string]string) error {
	errs := make([]error, len(k.state.Nodes))
	var wg sync.WaitGroup
	for i := range k.state.Nodes {
		if err := os.MkdirAll(k.nodeDir(i), 0o755); err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		if err := os.WriteFile(k.propsFile(i), []byte(k.serverProperties(i, extra)), 0o644); err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		wg.Go(func() {
			args := []string{"format", "-t", k.state.ClusterID, "-c", k.propsFile(i)}
			if k.state.Security != nil {
				args = append(args, k.state.Security.formatArgs(k.state.Users)...)
			}
			cmd := k.java(ctx, i, false, "kafka.tools.StorageTool", args...)
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("kafka: format node %d: %w\n%s", i, err, lastLines(string(b), 20))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// java builds a JVM command for node i running mainClass: the broker with
// an explicit heap and Kafka's own GC flags, a tool with flags for a fast
// start of a short-lived JVM.
func (k *Kafka) java(ctx context.Context, i int, broker bool, mainClass string, args ...string) *exec.Cmd {
	jvm := []string{"-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"}
	if broker {
		jvm = []string{
			fmt.Sprintf("-Xmx%dm", k.state.HeapMB),
			"-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
			"-XX:+ExplicitGCInvokesConcurrent", "-XX:+ExitOnOutOfMemoryError",
		}
		if _, err := os.Stat(cdsArchive(k.state.LibDir)); err == nil && len(k.state.JVMArgs) == 0 {
			jvm = append(jvm, "-XX:SharedArchiveFile="+cdsArchive(k.state.LibDir))
		}
		jvm = append(jvm, k.state.JVMArgs...)
	}
	jvm = append(jvm, "-Djava.awt.headless=true", "-Dkafka.logs.dir="+k.nodeDir(i))
	if _, err := os.Stat(k.state.Log4jConfig); err == nil {
		jvm = append(jvm, "-Dlog4j2.configurationFile="+k.state.Log4jConfig)
	}
	jvm = append(jvm, "-cp", filepath.Join(k.state.LibDir, "*"), mainClass)
	cmd := exec.CommandContext(ctx, javaPath(), append(jvm, args...)...)
	cmd.Dir = k.nodeDir(i)
	return cmd
}

// javaPath prefers $JAVA_HOME/bin/java over the java on PATH.
func javaPath() string {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if p := filepath.Join(home, "bin", "java"); hasAll(filepath.Dir(p), "java") {
			return p
		}
	}
	return "java"
}

// launch starts node i as a detached process.
func (k *Kafka) launch(i int) error {
	// Not tied to any ctx: the broker must outlive the call (and the CLI).
	cmd := k.java(context.Background(), i, true, "kafka.Kafka", k.propsFile(i))
	pid, err := startDetached(cmd, k.logFile(i))
	if err != nil {
		return fmt.Errorf("kafka: node %d: %w", i, err)
	}
	k.state.Nodes[i].Stopped = false
	return writePid(k.pidFile(i), pid)
}

// Bootstrap is the comma-separated host:port list of all brokers.
func (k *Kafka) Bootstrap() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var addrs []string
	for _, n := range k.state.Nodes {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", n.Port))
	}
	return strings.Join(addrs, ",")
}

// BrokerAddr is broker i's host:port.
func (k *Kafka) BrokerAddr(i int) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return fmt.Sprintf("127.0.0.1:%d", k.state.Nodes[i].Port)
}

// Brokers is the number of nodes.
func (k *Kafka) Brokers() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.state.Nodes)
}

// BrokerPID is the pid of node i, or 0 if it is not running.
func (k *Kafka) BrokerPID(i int) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.livePID(i)
}

func (k *Kafka) livePID(i int) int {
	if i < 0 || i >= len(k.state.Nodes) {
		return 0
	}
	if pid := readPid(k.pidFile(i)); ownedBy(pid, k.nodeDir(i)) {
		return pid
	}
	return 0
}

// KillBroker sends SIGKILL to node i and waits until it is gone.
func (k *Kafka) KillBroker(i int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkNode(i); err != nil {
		return err
	}
	k.state.Nodes[i].Stopped = true
	if err := kill(context.Background(), k.livePID(i)); err != nil {
		return fmt.Errorf("kafka: kill node %d: %w", i, err)
	}
	return nil
}

// StopBroker stops node i cleanly (SIGTERM; SIGKILL after a minute).
func (k *Kafka) StopBroker(ctx context.Context, i int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkNode(i); err != nil {
		return err
	}
	k.state.Nodes[i].Stopped = true
	if err := terminate(ctx, k.livePID(i), time.Minute); err != nil {
		return fmt.Errorf("kafka: stop node %d: %w", i, err)
	}
	return nil
}

// StartBroker restarts a stopped or killed node i with its data dir and port,
// and waits until every running node sees every running broker.
func (k *Kafka) StartBroker(ctx context.Context, i int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkNode(i); err != nil {
		return err
	}
	if k.livePID(i) != 0 {
		return fmt.Errorf("kafka: node %d is already running", i)
	}
	for try := 1; ; try++ {
		if err := k.waitPortsFree(ctx, i); err != nil {
			return err
		}
		if err := k.launch(i); err != nil {
			return err
		}
		err := k.waitReady(ctx)
		// A restarted node that vanished while starting, without a line in
		// its log, was seen once on a machine at load 40 after a kill -9:
		// launch it again (twice at most) rather than fail the caller.
		if err == nil || try == 3 || k.livePID(i) != 0 || ctx.Err() != nil {
			return err
		}
	}
}

func (k *Kafka) checkNode(i int) error {
	if i < 0 || i >= len(k.state.Nodes) {
		return fmt.Errorf("kafka: no node %d (have %d)", i, len(k.state.Nodes))
	}
	return nil
}

// waitPortsFree waits until a dead node's ports can be bound again.
func (k *Kafka) waitPortsFree(ctx context.Context, i int) error {
	n := k.state.Nodes[i]
	deadline := time.Now().Add(10 * time.Second)
	for !portFree(n.Port) || !portFree(n.ControllerPort) {
		if time.Now().After(deadline) {
			return fmt.Errorf("kafka: node %d: ports %d/%d still in use", i, n.Port, n.ControllerPort)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("kafka: node %d: %w", i, err)
		}
	}
	return nil
}

// Stop stops every node (SIGTERM to all at once, SIGKILL after 30s).
func (k *Kafka) Stop(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	var pids []int
	for i := range k.state.Nodes {
		k.state.Nodes[i].Stopped = true
		if pid := k.livePID(i); pid != 0 {
			pids = append(pids, pid)
		}
	}
	errs := make([]error, len(pids))
	var wg sync.WaitGroup
	for j, pid := range pids {
		wg.Go(func() { errs[j] = terminate(ctx, pid, 30*time.Second) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafka: stop: %w", err)
	}
	return nil
}
