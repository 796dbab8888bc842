package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/orderpipe/orderpipe/pkg/localstack"
)

// Fault classes.
const (
	FaultProcessKill   = "process kill -9"
	FaultControllerKil = "broker kill -9 (active controller)"
	FaultLeaderKill    = "broker kill -9 (leader of the busiest partition)"
	FaultBrokerRestart = "broker clean restart"
	FaultPostgres      = "PostgreSQL stop/start"
	FaultRedis         = "Redis stop/start"
)

// FaultClasses are the classes every bounded run must inject at least once.
var FaultClasses = []string{FaultProcessKill, FaultControllerKil, FaultLeaderKill, FaultBrokerRestart, FaultPostgres, FaultRedis}

// Fault is one injected fault.
type Fault struct {
	At     time.Duration // since traffic started
	Class  string
	Target string
	Down   time.Duration // how long the target was down
	Err    string        // the fault could not be injected or undone
}

// Schedule is when faults happen, relative to the start of traffic.
type Schedule struct {
	KillEvery     time.Duration // a processor instance is killed about this often (±40 %)
	KillDown      time.Duration // and restarted after up to this long
	KillFrom      time.Duration
	KillUntil     time.Duration
	ControllerAt  time.Duration
	LeaderAt      time.Duration
	RestartAt     time.Duration
	BrokerDown    time.Duration
	PostgresAt    time.Duration
	PostgresDown  time.Duration
	RedisAt       time.Duration
	RedisDown     time.Duration
	KillServices  []string // services whose instances may be killed
	BusiestTopic  string   // the topic whose busiest partition's leader is killed
	ProgressLines io.Writer
}

// injector runs a schedule against the stack and the fleet.
type injector struct {
	s     Schedule
	stack *localstack.Stack
	fleet *Fleet
	adm   *kadm.Client
	cl    *kgo.Client
	start time.Time
	log   io.Writer

	brokerMu sync.Mutex // one broker down at a time: two would break min.insync.replicas
	mu       sync.Mutex
	faults   []Fault
	rnd      *rand.Rand
}

func (in *injector) float() float64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rnd.Float64()
}

func (in *injector) intN(n int) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rnd.IntN(n)
}

func (in *injector) record(f Fault) {
	in.mu.Lock()
	in.faults = append(in.faults, f)
	in.mu.Unlock()
	status := "ok"
	if f.Err != "" {
		status = "FAILED: " + f.Err
	}
	_, _ = fmt.Fprintf(in.log, "chaos: t=%4.0fs fault %-48s %-28s down %5.1fs  %s\n", f.At.Seconds(), f.Class, f.Target, f.Down.Seconds(), status)
}

// Faults so far.
func (in *injector) Faults() []Fault {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Fault(nil), in.faults...)
}

// run injects the schedule until ctx is done; every fault is undone
// before run returns (a stopped server is started again even when ctx is
// cancelled).
func (in *injector) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { in.kills(ctx) })
	at := func(d time.Duration, fn func()) {
		wg.Go(func() {
			if sleepUntil(ctx, in.start.Add(d)) {
				fn()
			}
		})
	}
	at(in.s.ControllerAt, func() { in.brokerFault(FaultControllerKil, in.controller) })
	at(in.s.LeaderAt, func() { in.brokerFault(FaultLeaderKill, in.busiestLeader) })
	at(in.s.RestartAt, func() { in.brokerFault(FaultBrokerRestart, in.someBroker) })
	at(in.s.PostgresAt, func() {
		in.outage(FaultPostgres, "postgresql", in.s.PostgresDown, in.stack.Postgres.Stop, in.stack.Postgres.Start)
	})
	at(in.s.RedisAt, func() {
		in.outage(FaultRedis, "redis", in.s.RedisDown, in.stack.Redis.Stop, in.stack.Redis.Start)
	})
	wg.Wait()
}

// sleepUntil waits for t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

// kills kills a random running instance every KillEvery (±40 %) and
// starts it again after up to KillDown; never the last running instance
// of a service.
func (in *injector) kills(ctx context.Context) {
	if in.s.KillEvery <= 0 {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	next := in.start.Add(in.s.KillFrom)
	for {
		if !sleepUntil(ctx, next) || time.Since(in.start) > in.s.KillUntil {
			return
		}
		next = next.Add(time.Duration(float64(in.s.KillEvery) * (0.6 + 0.8*in.float())))
		var candidates []*Slot
		for _, svc := range in.s.KillServices {
			running := 0
			for _, s := range in.fleet.Of(svc) {
				if s.Running() {
					running++
				}
			}
			for _, s := range in.fleet.Of(svc) {
				if s.Running() && running > 1 {
					candidates = append(candidates, s)
				}
			}
		}
		if len(candidates) == 0 {
			continue
		}
		victim := candidates[in.intN(len(candidates))]
		down := time.Duration(float64(in.s.KillDown) * (0.3 + 0.7*in.float()))
		at := time.Since(in.start)
		victim.Kill()
		wg.Go(func() {
			time.Sleep(down) // not ctx-bound: the slot always comes back
			f := Fault{At: at, Class: FaultProcessKill, Target: victim.ID, Down: down}
			if err := victim.Start(); err != nil {
				f.Err = err.Error()
			}
			in.record(f)
		})
	}
}

// brokerFault picks a broker and kills it (or, for the clean restart,
// stops it), then starts it again after BrokerDown.
func (in *injector) brokerFault(class string, pick func(context.Context) (int, error)) {
	in.brokerMu.Lock()
	defer in.brokerMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	at := time.Since(in.start)
	f := Fault{At: at, Class: class}
	var node int
	var err error
	for try := 0; try < 20; try++ { // the cluster may still be recovering from the last fault
		if node, err = pick(ctx); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		f.Err = err.Error()
		in.record(f)
		return
	}
	f.Target = fmt.Sprintf("broker %d", node)
	began := time.Now()
	if class == FaultBrokerRestart {
		err = in.stack.Kafka.StopBroker(ctx, node)
	} else {
		err = in.stack.Kafka.KillBroker(node)
	}
	time.Sleep(in.s.BrokerDown)
	err = errors.Join(err, in.stack.Kafka.StartBroker(ctx, node))
	f.Down = time.Since(began)
	if err != nil {
		f.Err = err.Error()
	}
	in.record(f)
}

// controller is the active KRaft controller (every node is broker and
// controller): the leader of the metadata quorum.
func (in *injector) controller(ctx context.Context) (int, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, in.cl)
	if err != nil {
		return 0, fmt.Errorf("describe quorum: %w", err)
	}
	if len(resp.Topics) == 0 || len(resp.Topics[0].Partitions) == 0 || resp.Topics[0].Partitions[0].LeaderID < 0 {
		return 0, errors.New("describe quorum: no leader")
	}
	return int(resp.Topics[0].Partitions[0].LeaderID), nil
}

// busiestLeader is the leader of the partition of BusiestTopic with the
// most records.
func (in *injector) busiestLeader(ctx context.Context) (int, error) {
	ends, err := in.adm.ListEndOffsets(ctx, in.s.BusiestTopic)
	if err != nil {
		return 0, err
	}
	var best kadm.ListedOffset
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > best.Offset {
			best = o
		}
	})
	md, err := in.adm.Metadata(ctx, in.s.BusiestTopic)
	if err != nil {
		return 0, err
	}
	pd, ok := md.Topics[in.s.BusiestTopic].Partitions[best.Partition]
	if !ok || pd.Leader < 0 {
		return 0, fmt.Errorf("%s[%d]: no leader", in.s.BusiestTopic, best.Partition)
	}
	return int(pd.Leader), nil
}

// someBroker is a random broker that is not the active controller.
func (in *injector) someBroker(ctx context.Context) (int, error) {
	ctrl, err := in.controller(ctx)
	if err != nil {
		ctrl = -1
	}
	n := in.stack.Kafka.Brokers()
	for {
		if b := in.intN(n); b != ctrl {
			return b, nil
		}
	}
}

// outage stops a server, waits, and starts it again.
func (in *injector) outage(class, target string, down time.Duration, stop, start func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := Fault{At: time.Since(in.start), Class: class, Target: target}
	began := time.Now()
	err := stop(ctx)
	time.Sleep(down)
	err = errors.Join(err, start(ctx))
	f.Down = time.Since(began)
	if err != nil {
		f.Err = err.Error()
	}
	in.record(f)
}
