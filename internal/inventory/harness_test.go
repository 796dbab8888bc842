package inventory_test

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/inventory"
	"github.com/orderpipe/orderpipe/internal/inventory/domain"
	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// newFleet runs inventory-processor processes (slots) for one test, as real
// OS processes it can kill -9.
func newFleet(t *testing.T, env *testenv.KafkaEnv) *svctest.Procs {
	kc := env.Config
	f := svctest.NewProcs(t, svctest.Binary(t, "inventory-processor"), []string{
		"PATH=" + os.Getenv("PATH"),
		"KAFKA_BROKERS=" + strings.Join(kc.Brokers, ","),
		"TOPIC_PREFIX=" + kc.TopicPrefix,
		"PRODUCT_PARTITIONS=" + strconv.Itoa(kc.ProductPartitions),
		"ORDER_PARTITIONS=" + strconv.Itoa(kc.OrderPartitions),
		"KAFKA_REPLICATION_FACTOR=" + strconv.Itoa(kc.ReplicationFactor),
		"KAFKA_MIN_INSYNC_REPLICAS=" + strconv.Itoa(kc.MinInsyncReplicas),
		"HTTP_ADDR=127.0.0.1:0",
		"LOG_LEVEL=info",
		"LOG_FORMAT=text",
		"STREAMS_COMMIT_INTERVAL=100ms",
		"KAFKA_SESSION_TIMEOUT=6s",
		"KAFKA_TRANSACTION_TIMEOUT=10s",
	})
	f.LogsEnv = "INVENTORY_TEST_LOGS"
	return f
}

// applyTopics creates every contract topic under the test's prefix.
func applyTopics(t *testing.T, env *testenv.KafkaEnv) kafka.Names {
	t.Helper()
	return svctest.ApplyTopics(t, env.Config)
}

func jsonRecord(t testing.TB, topic, key string, v any) *kgo.Record {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b}
}

// producer is the test's command producer: idempotent, acks=all, murmur2.
func producer(t *testing.T, env *testenv.KafkaEnv) *kgo.Client {
	cl, err := kafka.NewProducer(env.Config, nil, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(t *testing.T, cl *kgo.Client, rs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Error(err)
	}
}

// waitConsumed waits until the processor's consumer group has committed
// every partition of its commands topic up to the end it has now (the test
// has stopped producing). Offsets commit in the same transaction as the
// outputs of the records before them, so from then on its results, stock
// snapshots and dead letters for every command are committed and a read
// to their end sees them all.
func waitConsumed(t *testing.T, env *testenv.KafkaEnv, names kafka.Names, timeout time.Duration) {
	t.Helper()
	env.WaitCommitted(t, env.Config.TopicPrefix+inventory.Group, names.InventoryCommands, timeout)
}

// cmdOrder sorts records of one topic by partition, then offset.
func cmdOrder(rs []*kgo.Record) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Partition != rs[j].Partition {
			return rs[i].Partition < rs[j].Partition
		}
		return rs[i].Offset < rs[j].Offset
	})
}

type lineID struct {
	order string
	line  int
}

// verify checks the processor's committed outputs against its input:
//   - exactly one result per (orderId, lineNo) Reserve command;
//   - replaying the commands of each product in partition order, applying
//     the processor's own decisions, stock never goes negative
//     (reserved + sold ≤ adjusted at every step);
//   - the processor's decisions are the ones a single sequential pass of
//     the domain rules makes (a command applied twice, or lost, would
//     change later decisions);
//   - each product's last snapshot equals the replayed stock.
//
// It returns the number of reserve results.
func verify(t *testing.T, env *testenv.KafkaEnv, names kafka.Names, catalog map[string]domain.Product, wantResults int, timeout time.Duration) int {
	t.Helper()
	waitConsumed(t, env, names, timeout)
	results := env.ReadAll(t, names.InventoryResults)
	if len(results) < wantResults {
		t.Errorf("%d results, want at least %d", len(results), wantResults)
	}
	byLine := map[lineID]schemas.InventoryResult{}
	dups := 0
	for _, r := range results {
		var v schemas.InventoryResult
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("result %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		if string(r.Key) != v.OrderID {
			t.Errorf("result keyed %q for order %q", r.Key, v.OrderID)
		}
		id := lineID{v.OrderID, v.LineNo}
		if _, seen := byLine[id]; seen {
			dups++
		}
		byLine[id] = v
	}
	if dups > 0 {
		t.Errorf("%d duplicate results", dups)
	}

	cmds := env.ReadAll(t, names.InventoryCommands)
	cmdOrder(cmds)
	reserves := 0
	type ledger struct {
		st    domain.Stock // replay of the processor's decisions
		model domain.Stock // the domain rules' own decisions
		lines map[lineID]domain.Line
		mod   map[lineID]domain.Line
		adjs  map[string]domain.Adjustment
	}
	products := map[string]*ledger{}
	get := func(p string) *ledger {
		l := products[p]
		if l == nil {
			l = &ledger{lines: map[lineID]domain.Line{}, mod: map[lineID]domain.Line{}, adjs: map[string]domain.Adjustment{}}
			products[p] = l
		}
		return l
	}
	mismatches, missing := 0, 0
	at := time.Unix(0, 0)
	for _, r := range cmds {
		var c schemas.InventoryCommand
		if json.Unmarshal(r.Value, &c) != nil {
			continue // poison, checked separately
		}
		l := get(c.ProductID)
		id := lineID{c.OrderID, c.LineNo}
		switch c.Type {
		case schemas.CmdReserve:
			reserves++
			prod, known := catalog[c.ProductID]
			cmd := domain.Reserve{OrderID: c.OrderID, LineNo: c.LineNo, Quantity: int64(c.Quantity), Currency: c.Currency}
			mline, mfound := l.mod[id]
			m, err := domain.ReserveLine(l.model, mline, mfound, prod, known, cmd, at)
			if err != nil {
				t.Fatal(err)
			}
			l.model, l.mod[id] = m.Stock, m.Line
			res, ok := byLine[id]
			if !ok {
				missing++
				continue
			}
			if (res.Type == schemas.ResultReserved) != m.Result.Reserved || res.Reason != m.Result.Reason {
				mismatches++
				if mismatches <= 5 {
					t.Errorf("%s line %d on %s: processor said %s %s, sequential rules say reserved=%v %s",
						c.OrderID, c.LineNo, c.ProductID, res.Type, res.Reason, m.Result.Reserved, m.Result.Reason)
				}
			}
			if res.Type == schemas.ResultReserved {
				if res.UnitPrice == nil || *res.UnitPrice != prod.Price {
					t.Errorf("%s line %d: unit price %v, catalog says %v", c.OrderID, c.LineNo, res.UnitPrice, prod.Price)
				}
				l.st.Reserved += int64(res.Quantity)
				l.lines[id] = domain.Line{Status: domain.LineReserved, Quantity: int64(res.Quantity)}
			} else {
				l.lines[id] = domain.Line{Status: domain.LineRejected}
			}
		case schemas.CmdRelease, schemas.CmdCommit:
			op := domain.ReleaseLine
			if c.Type == schemas.CmdCommit {
				op = domain.CommitLine
			}
			line, found := l.lines[id]
			st, line, _, err := op(l.st, line, found, at)
			if err != nil {
				t.Errorf("replaying the processor's decisions: %v", err)
			}
			l.st = st
			if found {
				l.lines[id] = line
			}
			ml, mf := l.mod[id]
			mst, ml, _, _ := op(l.model, ml, mf, at)
			l.model = mst
			if mf {
				l.mod[id] = ml
			}
		case schemas.CmdAdjust:
			a := domain.Adjust{ID: c.AdjustmentID, Delta: c.Delta, Absolute: c.Absolute}
			prev, seen := l.adjs[c.AdjustmentID]
			st, out, _, err := domain.AdjustStock(l.st, prev, seen, a, at)
			if err != nil {
				t.Fatal(err)
			}
			l.st, l.adjs[c.AdjustmentID] = st, out
			l.model, _, _, _ = domain.AdjustStock(l.model, prev, seen, a, at)
		}
		if l.st.Reserved+l.st.Sold > l.st.Adjusted {
			t.Fatalf("oversold %s at offset %d: reserved %d + sold %d > stock %d", c.ProductID, r.Offset, l.st.Reserved, l.st.Sold, l.st.Adjusted)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d reserves have no result", missing, reserves)
	}
	if mismatches > 0 {
		t.Errorf("%d decisions differ from a sequential run of the rules", mismatches)
	}
	if len(byLine) != reserves {
		t.Errorf("%d results for %d reserve commands", len(byLine), reserves)
	}

	snaps := env.ReadAll(t, names.InventoryStock)
	last := map[string]schemas.StockSnapshot{}
	for _, r := range snaps {
		var s schemas.StockSnapshot
		if err := json.Unmarshal(r.Value, &s); err != nil {
			t.Fatal(err)
		}
		if s.Available != s.OnHand-s.Reserved || s.Available < 0 {
			t.Errorf("snapshot %+v breaks available = onHand − reserved ≥ 0", s)
		}
		if s.Version >= last[s.ProductID].Version {
			last[s.ProductID] = s
		}
	}
	for p, l := range products {
		if l.st.Version == 0 && l.st.Adjusted == 0 {
			continue // never had stock: no snapshot
		}
		s, ok := last[p]
		if !ok {
			t.Errorf("%s: no stock snapshot", p)
			continue
		}
		if s.OnHand != l.st.OnHand || s.Reserved != l.st.Reserved {
			t.Errorf("%s: final snapshot onHand %d reserved %d; accepted effects give onHand %d reserved %d (adjusted %d, sold %d)",
				p, s.OnHand, s.Reserved, l.st.OnHand, l.st.Reserved, l.st.Adjusted, l.st.Sold)
		}
		if s.Version != l.model.Version {
			t.Errorf("%s: snapshot version %d, the rules applied %d changes", p, s.Version, l.model.Version)
		}
	}
	return len(byLine)
}
