package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/schemas"
)

// The consumer against an in-process Kafka (kfake): two orders, written in
// transactions as orderpipe writes them, with an aborted transaction, an
// event type this consumer does not know, a duplicate, and a record that
// cannot be decoded. Only committed events are applied, each once.
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders.events.v1"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	a, b := schemas.OrderID("customer-42", "checkout-1"), schemas.OrderID("customer-7", "checkout-9")
	placedA, _ := os.ReadFile("../../schemas/examples/order-placed.v1.json")
	confirmedA, _ := os.ReadFile("../../schemas/examples/order-confirmed.v1.json")
	rejectedB, _ := os.ReadFile("../../schemas/examples/order-rejected.v1.json")
	placedA, confirmedA = withOrder(placedA, a, "customer-42"), withOrder(confirmedA, a, "customer-42")
	rejectedB = withOrder(rejectedB, b, "customer-7")
	placedB := []byte(`{"type":"io.orderpipe.order.placed.v1","orderId":"` + b + `","version":1,"customerId":"customer-7","occurredAt":"2026-11-27T09:00:01Z",` +
		`"shippingAddress":{"addressLine1":"2 Pine St","city":"Seattle","stateOrProvince":"WA","postalCode":"98101","country":"US"},"lines":[{"productId":"sku-grinder-c40","quantity":1}],"currency":"USD"}`)

	saga, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("example-saga"), kgo.DefaultProduceTopic("orders.events.v1"))
	if err != nil {
		panic(err)
	}
	defer saga.Close()
	ctx := context.Background()
	txn := func(commit bool, recs ...*kgo.Record) {
		if err := saga.BeginTransaction(); err != nil {
			panic(err)
		}
		if err := saga.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			panic(err)
		}
		if err := saga.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			panic(err)
		}
	}
	txn(true, event(a, "e1", schemas.TypeOrderPlaced, placedA), event(b, "e2", schemas.TypeOrderPlaced, placedB))
	txn(false, event(b, "e3", schemas.TypeOrderConfirmed, withOrder(confirmedA, b, "customer-7"))) // aborted: never happened
	txn(true, event(a, "e4", schemas.TypeOrderConfirmed, confirmedA),
		event(a, "e5", "io.orderpipe.order.shipped.v1", []byte(`{"orderId":"`+a+`","version":3}`)))
	txn(true, event(a, "e4", schemas.TypeOrderConfirmed, confirmedA)) // the same event again
	txn(true, event(b, "e6", schemas.TypeOrderPlaced, []byte("{garbage")), event(b, "e7", schemas.TypeOrderRejected, rejectedB))

	out := &lines{want: 7, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() { <-out.done; cancel() }()
	_ = Consume(ctx, Config{Brokers: brokers, Topic: "orders.events.v1", Group: "example"}, NewHandler(NewMemoryStore(), out), slog.New(slog.DiscardHandler))
	fmt.Print(out.String())
	// Output:
	// order f86891da placed (v1) by customer-42: 3 lines
	// order a909320f placed (v1) by customer-7: 1 lines
	// order f86891da confirmed (v2): total 32597 USD
	// skip io.orderpipe.order.shipped.v1: unknown event type (newer than this consumer)
	// skip e4: already applied
	// dead-letter partition 0 offset 10: undecodable (invalid character 'g' looking for beginning of object key string)
	// order a909320f rejected (v2): insufficient_stock
}

func event(orderID, id, ceType string, value []byte) *kgo.Record {
	return &kgo.Record{Key: []byte(orderID), Value: value, Headers: []kgo.RecordHeader{
		{Key: "ce_id", Value: []byte(id)}, {Key: "ce_type", Value: []byte(ceType)}, {Key: "ce_source", Value: []byte("/orderpipe/order-processor")},
		{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "content-type", Value: []byte("application/json")},
	}}
}

// withOrder rewrites an example record for another order and customer.
func withOrder(value []byte, orderID, customer string) []byte {
	var m map[string]any
	if err := json.Unmarshal(value, &m); err != nil {
		panic(err)
	}
	m["orderId"], m["customerId"] = orderID, customer
	b, _ := json.Marshal(m)
	return b
}

// lines collects output and closes done after want lines.
type lines struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want int
	done chan struct{}
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if strings.Count(l.buf.String(), "\n") == l.want {
		close(l.done)
	}
	return len(p), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
