package testenv

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// KafkaEnv is a test's Kafka: brokers plus a Config with a topic prefix of
// its own and replication that fits the cluster.
type KafkaEnv struct {
	Kind    string
	Brokers []string
	Config  config.Kafka
}

// Kafka returns a Kafka for t: real (KAFKA_BROKERS), else testcontainers,
// else kfake. Topics under the test's prefix are deleted at cleanup.
func Kafka(t testing.TB) *KafkaEnv {
	t.Helper()
	kind, brokers, where := kafkaBrokers(t)
	announce(t, "kafka", kind, where)
	env := &KafkaEnv{Kind: kind, Brokers: brokers}
	n := clusterSize(t, brokers)
	rf, minISR := 1, 1
	if n >= 3 {
		rf, minISR = 3, 2
	}
	prefix := "t." + uniqueName(t) + "."
	env.Config = config.Kafka{
		Brokers: brokers, ClientID: "orderpipe-test", TopicPrefix: prefix,
		OrderPartitions: 3, ProductPartitions: 3, ReplicationFactor: rf, MinInsyncReplicas: minISR,
	}
	t.Cleanup(func() { deletePrefix(brokers, prefix) })
	return env
}

func kafkaBrokers(t testing.TB) (kind string, brokers []string, where string) {
	t.Helper()
	if v := os.Getenv("KAFKA_BROKERS"); v != "" {
		return KindReal, strings.Split(v, ","), "Apache Kafka at " + v + " from KAFKA_BROKERS"
	}
	if requireReal() {
		missing(t, "kafka", "KAFKA_BROKERS")
	}
	if b, err := sharedContainer(); err == nil {
		return KindTestcontainers, b, "testcontainers Kafka module (-tags testcontainers)"
	}
	return KindKfake, sharedKfake(t), "in-process kfake; set KAFKA_BROKERS for real Kafka"
}

// dockerReachable reports whether a Docker engine socket is there to ask.
func dockerReachable() bool {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return true
	}
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	conn, err := d.DialContext(context.Background(), "unix", "/var/run/docker.sock")
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

var (
	kfakeOnce    sync.Once
	kfakeBrokers []string
)

func sharedKfake(t testing.TB) []string {
	t.Helper()
	kfakeOnce.Do(func() {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
		if err != nil {
			t.Fatalf("kfake: %v", err)
		}
		kfakeBrokers = c.ListenAddrs()
	})
	return kfakeBrokers
}

func clusterSize(t testing.TB, brokers []string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bs, err := kadm.NewClient(cl).ListBrokers(ctx)
	if err != nil {
		t.Fatalf("kafka at %v does not answer: %v", brokers, err)
	}
	return len(bs)
}

func deletePrefix(brokers []string, prefix string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return
	}
	var names []string
	for _, name := range topics.Names() {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		_, _ = adm.DeleteTopics(ctx, names...)
	}
}

// Client returns a plain client on the test's Kafka, closed at cleanup.
func (e *KafkaEnv) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.Brokers...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}
