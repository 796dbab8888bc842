package streams_test

import (
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/streams"
)

// A processor that keeps a running total per key: a store, a handler that
// reads and writes it and emits the total, and a poison record that goes to
// the dead-letter queue. The TestDriver runs it without Kafka, with the
// runtime's transaction semantics.
func Example() {
	totals := streams.NewStore("totals", streams.JSON[int64](1))
	topo := streams.NewTopology("adder", kafka.ByProduct).
		Input("amounts", func(t *streams.Task, r *kgo.Record) error {
			n, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil {
				return streams.Poison(streams.ReasonDecode, err)
			}
			var total int64
			err = totals.Of(t).Update(string(r.Key), func(v *int64, _ bool) error {
				*v += n
				total = *v
				return nil
			})
			if err != nil {
				return err
			}
			t.Emit(&kgo.Record{Topic: "totals", Key: r.Key, Value: []byte(strconv.FormatInt(total, 10))})
			return nil
		}).
		Store(totals)

	d, err := streams.NewTestDriver(topo, 3)
	if err != nil {
		panic(err)
	}
	for _, v := range []string{"5", "oops", "7"} {
		_ = d.Send(&kgo.Record{Topic: "amounts", Key: []byte("alice"), Value: []byte(v)})
	}
	_ = d.Commit()

	for _, r := range d.Outputs("totals") {
		fmt.Printf("%s=%s\n", r.Key, r.Value)
	}
	dlq := d.Outputs(kafka.DLQ("amounts"))
	fmt.Println("dead letters:", len(dlq), kafka.Header(dlq[0], streams.HeaderDLQReason))
	// Output:
	// alice=5
	// alice=12
	// dead letters: 1 decode
}

// An aborted transaction leaves nothing behind: not its outputs, not its
// state changes. A restarted task restores the committed state from the
// changelog.
func ExampleTestDriver_Abort() {
	counts := streams.NewStore("counts", streams.JSON[int](1))
	topo := streams.NewTopology("counter", kafka.ByProduct).
		Input("events", func(t *streams.Task, r *kgo.Record) error {
			return counts.Of(t).Update(string(r.Key), func(v *int, _ bool) error { *v++; return nil })
		}).
		Store(counts)
	d, _ := streams.NewTestDriver(topo, 1)
	send := func() { _ = d.Send(&kgo.Record{Topic: "events", Key: []byte("k")}) }

	send()
	_ = d.Commit() // k = 1
	send()
	send()
	d.Abort() // the two increments are gone
	_ = d.Restart()

	n, _, _ := counts.Of(d.Task(0)).Get("k")
	fmt.Println("k =", n, "changelog records:", len(d.Changelog("counts")))
	// Output: k = 1 changelog records: 1
}

// A punctuator runs for every task inside the open transaction — for
// timeouts and expiry. Here it releases holds older than a minute.
func ExampleTopology_Every() {
	holds := streams.NewStore("holds", streams.JSON[int64](1)) // key → unix time of the hold
	topo := streams.NewTopology("holder", kafka.ByOrder).
		Input("holds", func(t *streams.Task, r *kgo.Record) error {
			holds.Of(t).Put(string(r.Key), t.Now().Unix())
			return nil
		}).
		Store(holds)
	topo.Every(10*time.Second, func(t *streams.Task, now time.Time) error {
		var expired []string
		_ = holds.Of(t).Range(func(k string, at int64) bool {
			if now.Unix()-at >= 60 {
				expired = append(expired, k)
			}
			return true
		})
		for _, k := range expired {
			holds.Of(t).Delete(k)
			t.Emit(&kgo.Record{Topic: "released", Key: []byte(k)})
		}
		return nil
	})
	d, _ := streams.NewTestDriver(topo, 1)
	_ = d.Send(&kgo.Record{Topic: "holds", Key: []byte("order-1")})
	d.Advance(61 * time.Second)
	_ = d.Punctuate()
	_ = d.Commit()
	fmt.Println(len(d.Outputs("released")), "released")
	// Output: 1 released
}
