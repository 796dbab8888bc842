package inventory_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/inventory/domain"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// workload is the acceptance tests' traffic: a few hot products with far
// less stock than demand, order lines reserving them from many goroutines,
// and for many lines a later Release or Commit (sent only after the line's
// Reserve was acknowledged, so it follows it in the product's partition).
type workload struct {
	names    kafka.Names
	catalog  map[string]domain.Product
	hot      []string
	reserves int
	mu       sync.Mutex
}

func newWorkload(names kafka.Names) *workload {
	w := &workload{names: names, catalog: map[string]domain.Product{}}
	for i := 0; i < 5; i++ {
		p := fmt.Sprintf("hot-%d", i)
		w.hot = append(w.hot, p)
		w.catalog[p] = domain.Product{Price: schemas.Money{Amount: int64(1000 + i*250), Currency: "USD"}, Active: true}
	}
	w.catalog["retired"] = domain.Product{Price: schemas.Money{Amount: 500, Currency: "USD"}, Active: false}
	return w
}

// seed writes the catalog and the initial stock (absolute adjustments).
func (w *workload) seed(t *testing.T, cl *kgo.Client) {
	var rs []*kgo.Record
	for id, p := range w.catalog {
		rs = append(rs, jsonRecord(t, w.names.CatalogProducts, id, schemas.Product{
			ProductID: id, Name: id, CategoryID: "c", Price: p.Price, Active: p.Active, Version: 1, UpdatedAt: time.Now(),
		}))
	}
	for _, p := range append(append([]string(nil), w.hot...), "retired") {
		v := int64(150)
		rs = append(rs, jsonRecord(t, w.names.InventoryCommands, p, schemas.InventoryCommand{
			Type: schemas.CmdAdjust, ProductID: p, AdjustmentID: "initial-" + p, Absolute: &v, Reason: "initial", IssuedAt: time.Now(),
		}))
	}
	produce(t, cl, rs...)
}

// drive sends orders from workers goroutines in waves for about dur. Each
// wave reserves lines for new orders and then releases or commits some lines
// of the previous wave. Restocks (with a duplicated adjustment id), a
// currency mismatch, unknown and inactive products and poison records are
// mixed in. It returns the number of poison records sent.
func (w *workload) drive(t *testing.T, cl *kgo.Client, workers, orders int, dur time.Duration) int {
	var wg sync.WaitGroup
	perWorker := orders / workers
	waves := 40
	pause := dur / time.Duration(waves)
	poison := 0
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(g), 7))
			var previous []schemas.InventoryCommand
			for wave := 0; wave < waves; wave++ {
				var rs []*kgo.Record
				var current []schemas.InventoryCommand
				for o := 0; o < perWorker/waves; o++ {
					order := fmt.Sprintf("order-%d-%d-%d", g, wave, o)
					for line := 0; line < 1+rnd.IntN(3); line++ {
						p := w.hot[rnd.IntN(len(w.hot))]
						cur := "USD"
						switch rnd.IntN(50) {
						case 0:
							p = "unknown-product"
						case 1:
							p = "retired"
						case 2:
							cur = "EUR"
						}
						c := schemas.InventoryCommand{Type: schemas.CmdReserve, ProductID: p, OrderID: order, LineNo: line,
							Quantity: 1 + rnd.IntN(4), Currency: cur, IssuedAt: time.Now()}
						current = append(current, c)
						rs = append(rs, jsonRecord(t, w.names.InventoryCommands, p, c))
					}
				}
				if g == 0 && wave%8 == 3 {
					rs = append(rs, &kgo.Record{Topic: w.names.InventoryCommands, Key: []byte(w.hot[0]), Value: []byte("{not json")})
					poison++
				}
				w.mu.Lock()
				w.reserves += len(current)
				w.mu.Unlock()
				produce(t, cl, rs...) // reserves acknowledged before any follow-up of theirs
				rs = rs[:0]
				for _, c := range previous {
					switch rnd.IntN(10) {
					case 0, 1, 2:
						c.Type = schemas.CmdRelease
					case 3, 4, 5:
						c.Type = schemas.CmdCommit
					default:
						continue
					}
					c.Quantity, c.Currency = 0, ""
					rs = append(rs, jsonRecord(t, w.names.InventoryCommands, c.ProductID, c))
				}
				if g == 1 && wave%5 == 0 {
					p := w.hot[wave%len(w.hot)]
					d := int64(20)
					adj := schemas.InventoryCommand{Type: schemas.CmdAdjust, ProductID: p, AdjustmentID: fmt.Sprintf("restock-%d", wave), Delta: &d, IssuedAt: time.Now()}
					rs = append(rs, jsonRecord(t, w.names.InventoryCommands, p, adj), jsonRecord(t, w.names.InventoryCommands, p, adj)) // the second is a duplicate
				}
				produce(t, cl, rs...)
				previous = current
				time.Sleep(pause)
			}
		}()
	}
	wg.Wait()
	return poison
}

// checkDLQ expects exactly n poison records in the commands' DLQ, each with
// its reason.
func checkDLQ(t *testing.T, env *testenv.KafkaEnv, names kafka.Names, n int) {
	t.Helper()
	// Every command is consumed (verify waited for that; this wait is then
	// immediate): the DLQ read to its end holds every dead letter the
	// processor will ever write for them, so one more would be a duplicate.
	waitConsumed(t, env, names, 2*time.Minute)
	dlq := env.ReadAll(t, kafka.DLQ(names.InventoryCommands))
	if len(dlq) != n {
		t.Fatalf("DLQ has %d records, want %d", len(dlq), n)
	}
	for _, r := range dlq {
		if got := kafka.Header(r, streams.HeaderDLQReason); got != streams.ReasonDecode {
			t.Errorf("DLQ reason %q, want %q", got, streams.ReasonDecode)
		}
		if kafka.Header(r, streams.HeaderDLQTopic) != names.InventoryCommands || kafka.Header(r, streams.HeaderDLQOffset) == "" {
			t.Errorf("DLQ record lacks its origin: %v", r.Headers)
		}
	}
}

// TestExactlyOnceThroughKills drives thousands of concurrent
// Reserve/Release/Commit commands at five hot products with far more demand
// than stock, kills the processor with SIGKILL four times mid-stream and
// restarts it, then checks with read_committed readers that every reserve
// has exactly one result, that no product was ever oversold, that the
// decisions equal a sequential run of the rules and that the final stock
// snapshots equal the sum of the accepted effects.
func TestExactlyOnceThroughKills(t *testing.T) {
	env := testenv.Kafka(t)
	names := applyTopics(t, env)
	cl := producer(t, env)
	w := newWorkload(names)
	w.seed(t, cl)

	f := newFleet(t, env)
	f.Start("inventory-0")
	done := make(chan int)
	go func() { done <- w.drive(t, cl, 8, 8000, 16*time.Second) }()
	const kills = 4
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(1500+rand.IntN(1500)) * time.Millisecond)
		f.Kill("inventory-0")
		time.Sleep(time.Duration(rand.IntN(700)) * time.Millisecond)
		f.Start("inventory-0")
	}
	poison := <-done
	got := verify(t, env, names, w.catalog, w.reserves, 2*time.Minute)
	t.Logf("%d reserve results for %d order lines; %d kills", got, w.reserves, kills)
	checkDLQ(t, env, names, poison)
}

// TestTwoInstancesShareAndFailOver runs a second instance next to the first
// mid-stream (a rebalance splits the partitions between them; each instance
// runs two threads, so four group members), then kills the first for good
// (its partitions move to the second after the session timeout), and checks
// the same guarantees.
func TestTwoInstancesShareAndFailOver(t *testing.T) {
	env := testenv.Kafka(t)
	names := applyTopics(t, env)
	cl := producer(t, env)
	w := newWorkload(names)
	w.seed(t, cl)

	f := newFleet(t, env)
	f.Start("inventory-0", "STREAMS_THREADS=2")
	done := make(chan int)
	go func() { done <- w.drive(t, cl, 6, 6000, 14*time.Second) }()
	time.Sleep(4 * time.Second)
	f.Start("inventory-1", "STREAMS_THREADS=2")
	time.Sleep(5 * time.Second)
	f.Kill("inventory-0")
	poison := <-done
	verify(t, env, names, w.catalog, w.reserves, 2*time.Minute)
	checkDLQ(t, env, names, poison)
}
