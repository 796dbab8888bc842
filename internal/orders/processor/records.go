package processor

import (
	"bytes"
	"context"
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

// eventNamespace is the UUIDv5 namespace of the saga's record ids. An id is
// derived from what the record is about (an order's version, a line's
// command), so processing an input again after an aborted transaction
// writes the same ce_id, and consumers can deduplicate on it.
var eventNamespace = uuid.MustParse("8c4f2a1e-3b7d-5e9a-a1c6-2d8e4f6b0c13")

func recordID(parts ...string) string {
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString(p)
		b.WriteByte(0)
	}
	return uuid.NewSHA1(eventNamespace, b.Bytes()).String()
}

// decodeRequest decodes an orders.requests.v1 record and checks it: a
// request that can never become an order is poison.
func decodeRequest(r *kgo.Record) (schemas.OrderRequest, error) {
	var req schemas.OrderRequest
	if err := json.Unmarshal(r.Value, &req); err != nil {
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
	var v schemas.InventoryResult
	if err := json.Unmarshal(r.Value, &v); err != nil {
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
	ctx := t.Context()
	for _, ev := range fx.Events {
		t.Emit(w.record(ctx, w.names.OrderEvents, ev.OrderID, appendEvent(make([]byte, 0, 512), ev), ev.Type,
			recordID("event", ev.OrderID, strconv.FormatInt(ev.Version, 10)), ev.OccurredAt))
	}
	for _, c := range fx.Commands {
		t.Emit(w.record(ctx, w.names.InventoryCommands, c.ProductID, appendCommand(make([]byte, 0, 192), c), schemas.TypeInventoryCommand,
			recordID("command", c.Type, c.OrderID, strconv.Itoa(c.LineNo)), c.IssuedAt))
	}
	if fx.State != nil {
		st := *fx.State // captured: the latest of the transaction is built at commit
		topic := w.names.OrderState
		t.EmitLatest(topic, st.OrderID, func() (*kgo.Record, error) {
			return w.record(ctx, topic, st.OrderID, appendState(make([]byte, 0, 640), st), schemas.TypeOrderState,
				recordID("state", st.OrderID, strconv.FormatInt(st.Version, 10)), st.UpdatedAt), nil
		})
	}
}

func (w writer) record(ctx context.Context, topic, key string, value []byte, ceType, id string, at time.Time) *kgo.Record {
	return kafka.NewRecord(ctx, topic, []byte(key), value, kafka.Event{ID: id, Type: ceType, Source: Source, Time: at})
}
