package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/inventory/domain"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
	"github.com/orderpipe/orderpipe/streams"
)

// Source is the CloudEvents source of every record the processor writes.
const Source = "/orderpipe/inventory-processor"

// eventNamespace is the UUIDv5 namespace of the processor's event ids. Ids
// are derived from what an event is about, so re-processing a record after
// an aborted transaction, or answering a duplicate Reserve, produces the
// same ce_id and consumers can deduplicate on it.
var eventNamespace = uuid.MustParse("3b0e1c9a-5f1d-5e4b-8c2a-7d6e9f0a1b2c")

// decodeCommand decodes an inventory command and checks that it belongs on
// this record's key (productId): a command on another product's key is on
// the wrong partition and would break single-writer ownership.
func decodeCommand(r *kgo.Record) (schemas.InventoryCommand, error) {
	var c schemas.InventoryCommand
	if err := json.Unmarshal(r.Value, &c); err != nil {
		return c, streams.Poison(streams.ReasonDecode, err)
	}
	key := string(r.Key)
	switch {
	case c.ProductID == "" && key == "":
		return c, streams.Poison(streams.ReasonInvalid, errors.New("command has no productId and no key"))
	case c.ProductID == "":
		c.ProductID = key
	case c.ProductID != key:
		return c, streams.Poison(streams.ReasonInvalid, fmt.Errorf("productId %q differs from the record key %q", c.ProductID, key))
	}
	if strings.IndexByte(c.ProductID, 0) >= 0 || strings.IndexByte(c.OrderID, 0) >= 0 || strings.IndexByte(c.AdjustmentID, 0) >= 0 {
		return c, streams.Poison(streams.ReasonInvalid, errors.New("ids must not contain NUL"))
	}
	return c, nil
}

// decodeProduct decodes a catalog.products.v1 value into what inventory
// keeps of it.
func decodeProduct(_, value []byte) (domain.Product, error) {
	var p schemas.Product
	if err := json.Unmarshal(value, &p); err != nil {
		return domain.Product{}, err
	}
	return domain.Product{Price: p.Price, Active: p.Active}, nil
}

// lineKey and adjustmentKey key the ledger stores: product first, NUL
// separated (ids cannot contain NUL).
func lineKey(productID, orderID string, lineNo int) string {
	return productID + "\x00" + orderID + "\x00" + strconv.Itoa(lineNo)
}

func adjustmentKey(productID, adjustmentID string) string {
	return productID + "\x00" + adjustmentID
}

// newRecord builds an output record with CloudEvents binary-mode headers,
// carrying the input's W3C trace context unchanged.
func newRecord(in *kgo.Record, topic string, key, value []byte, id uuid.UUID, typ string, at time.Time) *kgo.Record {
	r := &kgo.Record{Topic: topic, Key: key, Value: value, Headers: make([]kgo.RecordHeader, 0, 8)}
	r.Headers = append(r.Headers,
		kgo.RecordHeader{Key: kafka.HeaderID, Value: []byte(id.String())},
		kgo.RecordHeader{Key: kafka.HeaderType, Value: []byte(typ)},
		kgo.RecordHeader{Key: kafka.HeaderSource, Value: []byte(Source)},
		kgo.RecordHeader{Key: kafka.HeaderSpecVersion, Value: []byte("1.0")},
		kgo.RecordHeader{Key: kafka.HeaderTime, Value: []byte(at.UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: kafka.HeaderContentType, Value: []byte("application/json")},
	)
	if in != nil {
		for _, h := range in.Headers {
			if h.Key == "traceparent" || h.Key == "tracestate" {
				r.Headers = append(r.Headers, h)
			}
		}
	}
	return r
}

// resultRecord is the answer to a Reserve on inventory.results.v1 (key
// orderId). Its id is derived from (orderId, lineNo): a line has one answer.
func resultRecord(in *kgo.Record, topic, productID string, c domain.Reserve, res domain.Result) (*kgo.Record, error) {
	v := schemas.InventoryResult{
		OrderID: c.OrderID, LineNo: c.LineNo, ProductID: productID, Quantity: int(res.Quantity), At: res.At,
	}
	if res.Reserved {
		v.Type = schemas.ResultReserved
		price := res.UnitPrice
		v.UnitPrice = &price
	} else {
		v.Type, v.Reason = schemas.ResultRejected, res.Reason
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	id := uuid.NewSHA1(eventNamespace, []byte("result\x00"+c.OrderID+"\x00"+strconv.Itoa(c.LineNo)))
	return newRecord(in, topic, []byte(c.OrderID), b, id, schemas.TypeInventoryResult, res.At), nil
}

// snapshotRecord is a product's public stock on inventory.stock.v1 (key
// productId, compacted). Its id is derived from (productId, version).
func snapshotRecord(topic, productID string, st domain.Stock) (*kgo.Record, error) {
	v := schemas.StockSnapshot{
		ProductID: productID, OnHand: st.OnHand, Reserved: st.Reserved, Available: st.Available(),
		Version: st.Version, UpdatedAt: st.UpdatedAt,
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	id := uuid.NewSHA1(eventNamespace, []byte("stock\x00"+productID+"\x00"+strconv.FormatInt(st.Version, 10)))
	return newRecord(nil, topic, []byte(productID), b, id, schemas.TypeStockSnapshot, st.UpdatedAt), nil
}
