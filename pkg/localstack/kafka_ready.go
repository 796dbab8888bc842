package localstack

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// waitReady waits until every node that should run answers a metadata
// request itself and lists every broker that should run. Callers hold k.mu.
func (k *Kafka) waitReady(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, k.state.ReadyTimeout)
	defer cancel()
	var want []int32
	for _, n := range k.state.Nodes {
		if !n.Stopped {
			want = append(want, int32(n.ID))
		}
	}
	clients := map[int]*kgo.Client{}
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	var last string
	for {
		ready := true
		for _, id := range want {
			i := int(id)
			if k.livePID(i) == 0 {
				return fmt.Errorf("kafka: node %d exited during startup; tail of %s:\n%s", i, k.logFile(i), tail(k.logFile(i), 30))
			}
			cl := clients[i]
			if cl == nil {
				opts, err := k.state.Security.clientOpts()
				if err != nil {
					return err
				}
				cl, err = kgo.NewClient(append(opts, kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", k.state.Nodes[i].Port)))...)
				if err != nil {
					return fmt.Errorf("kafka: client for node %d: %w", i, err)
				}
				clients[i] = cl
			}
			seen, err := brokersSeenBy(ctx, cl)
			switch {
			case err != nil:
				last = fmt.Sprintf("node %d: %v", i, err)
				ready = false
			case !containsAll(seen, want):
				last = fmt.Sprintf("node %d sees brokers %v, want %v", i, seen, want)
				ready = false
			}
			if !ready {
				break
			}
		}
		if ready {
			return nil
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			if parent.Err() != nil {
				return fmt.Errorf("kafka: waiting for brokers: %w", parent.Err())
			}
			return fmt.Errorf("kafka: not ready after %s (%s): %w%s", k.state.ReadyTimeout, last, err, k.logTails(want))
		}
	}
}

// brokersSeenBy asks the client's seed broker itself (not any broker) for
// the brokers in its metadata.
func brokersSeenBy(ctx context.Context, cl *kgo.Client) ([]int32, error) {
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // no topics, brokers only
	resp, err := cl.SeedBrokers()[0].Request(rctx, req)
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids, nil
}

func containsAll(have, want []int32) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func (k *Kafka) logTails(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "\n--- tail of %s ---\n%s", k.logFile(int(id)), tail(k.logFile(int(id)), 20))
	}
	return b.String()
}
