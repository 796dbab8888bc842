package processor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/orders/saga"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// Source is the CloudEvents source of every record the saga writes.
const Source = "/orderpipe/order-processor"

// Record ids (ce_id) are derived from what the record is about, so
// processing an input again after an aborted transaction writes the same
// ce_id and consumers can deduplicate on it:
//
//	<orderId>/event/<version>              orders.events.v1
//	<orderId>/state/<version>              orders.state.v1
//	<orderId>/line/<lineNo>/<command>      inventory.commands.v1
func eventID(orderID string, version int64) string {
	return orderID + "/event/" + strconv.FormatInt(version, 10)
}

func stateID(orderID string, version int64) string {
	return orderID + "/state/" + strconv.FormatInt(version, 10)
}

func commandID(orderID string, lineNo int, cmd string) string {
	return orderID + "/line/" + strconv.Itoa(lineNo) + "/" + cmd
}

// decodeRequest decodes an orders.requests.v1 record and checks it: a
// request that can never become an order is poison.
func decodeRequest(r *kgo.Record) (schemas.OrderRequest, error) {
	req, err := unmarshalRequest(r.Value)
	if err != nil {
		return req, streams.Poison(streams.ReasonDecode, err)
	}
	if err := saga.CheckRequest(req); err != nil {
		return req, streams.Poison(streams.ReasonInvalid, err)
	}
	if !bytes.Equal(r.Key, schemas.RequestKey(req.Scope, req.IdempotencyKey)) {
		return req, streams.Poison(streams.ReasonInvalid, errors.New("record key is not the request's scope‖idempotency key"))
	}
	return req, nil
}

// decodeResult decodes an inventory.results.v1 record.
func decodeResult(r *kgo.Record) (string, saga.Result, error) {
	v, err := unmarshalResult(r.Value)
	if err != nil {
		return "", saga.Result{}, streams.Poison(streams.ReasonDecode, err)
	}
	if v.OrderID == "" || v.OrderID != string(r.Key) {
		return "", saga.Result{}, streams.Poison(streams.ReasonInvalid, fmt.Errorf("result for order %q on key %q", v.OrderID, r.Key))
	}
	res := saga.Result{LineNo: v.LineNo, ProductID: v.ProductID, Quantity: v.Quantity, Reason: v.Reason}
	switch v.Type {
	case schemas.ResultReserved:
		if v.UnitPrice == nil {
			return "", res, streams.Poison(streams.ReasonInvalid, errors.New("reserved result without unitPrice"))
		}
		res.Reserved, res.UnitPrice = true, *v.UnitPrice
	case schemas.ResultRejected:
	default:
		return "", res, streams.Poison(streams.ReasonInvalid, fmt.Errorf("unknown result type %q", v.Type))
	}
	return v.OrderID, res, nil
}

// decodeCommand decodes an orders.commands.v1 record.
func decodeCommand(r *kgo.Record) (schemas.OrderCommand, error) {
	var c schemas.OrderCommand
	if err := json.Unmarshal(r.Value, &c); err != nil {
		return c, streams.Poison(streams.ReasonDecode, err)
	}
	if _, err := uuid.Parse(c.OrderID); err != nil || c.OrderID != string(r.Key) {
		return c, streams.Poison(streams.ReasonInvalid, fmt.Errorf("command for order %q on key %q", c.OrderID, r.Key))
	}
	if c.Type != schemas.CommandCancel {
		return c, streams.Poison(streams.ReasonInvalid, fmt.Errorf("unknown order command %q", c.Type))
	}
	return c, nil
}

// writer turns a step's Effects into records of the open transaction.
type writer struct {
	names kafka.Names
}

func (w writer) emit(t *streams.Task, fx saga.Effects) {
	trace := traceHeaders(t.Record())
	for _, ev := range fx.Events {
		t.Emit(w.record(w.names.OrderEvents, ev.OrderID, appendEvent(make([]byte, 0, 512), ev), ev.Type,
			eventID(ev.OrderID, ev.Version), ev.OccurredAt, trace))
	}
	for _, c := range fx.Commands {
		t.Emit(w.record(w.names.InventoryCommands, c.ProductID, appendCommand(make([]byte, 0, 192), c), schemas.TypeInventoryCommand,
			commandID(c.OrderID, c.LineNo, c.Type), c.IssuedAt, trace))
	}
	if fx.State != nil {
		st := *fx.State // captured: the latest of the transaction is built at commit
		topic := w.names.OrderState
		t.EmitLatest(topic, st.OrderID, func() (*kgo.Record, error) {
			return w.record(topic, st.OrderID, appendState(make([]byte, 0, 640), st), schemas.TypeOrderState,
				stateID(st.OrderID, st.Version), st.UpdatedAt, trace), nil
		})
	}
}

// traceHeaders returns the input record's W3C trace context headers: the
// saga's outputs continue the trace of the record that caused them (none
// for a punctuator's timeout).
func traceHeaders(in *kgo.Record) []kgo.RecordHeader {
	if in == nil {
		return nil
	}
	var out []kgo.RecordHeader
	for _, h := range in.Headers {
		if h.Key == "traceparent" || h.Key == "tracestate" {
			out = append(out, h)
		}
	}
	return out
}

// record builds an output record with the CloudEvents binary-mode headers
// (as kafka.NewRecord writes them) and the trace context.
func (w writer) record(topic, key string, value []byte, ceType, id string, at time.Time, trace []kgo.RecordHeader) *kgo.Record {
	h := make([]kgo.RecordHeader, 0, 6+len(trace))
	h = append(h,
		kgo.RecordHeader{Key: kafka.HeaderID, Value: []byte(id)},
		kgo.RecordHeader{Key: kafka.HeaderType, Value: []byte(ceType)},
		kgo.RecordHeader{Key: kafka.HeaderSource, Value: sourceBytes},
		kgo.RecordHeader{Key: kafka.HeaderSpecVersion, Value: specVersion},
		kgo.RecordHeader{Key: kafka.HeaderTime, Value: at.UTC().AppendFormat(make([]byte, 0, 32), time.RFC3339Nano)},
		kgo.RecordHeader{Key: kafka.HeaderContentType, Value: contentType},
	)
	h = append(h, trace...)
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: value, Headers: h}
}

var (
	sourceBytes = []byte(Source)
	specVersion = []byte("1.0")
	contentType = []byte("application/json")
)
