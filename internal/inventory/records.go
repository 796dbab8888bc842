package inventory

import (
	"crypto/sha1" //nolint:gosec // UUIDv5 is defined on SHA-1; not used for security.
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
	c, err := parseCommand(r.Value)
	if err != nil {
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

// Constant header values, shared by every record (kgo never writes to them).
var (
	hdrResultType   = []byte(schemas.TypeInventoryResult)
	hdrSnapshotType = []byte(schemas.TypeStockSnapshot)
	hdrSource       = []byte(Source)
	hdrSpecVersion  = []byte("1.0")
	hdrContentType  = []byte("application/json")
)

// outRecord is an output record with room for its headers, id, time, key
// and a typical value: one allocation instead of five per record (append
// moves a key or value that does not fit to an array of its own).
type outRecord struct {
	rec   kgo.Record
	hdrs  [8]kgo.RecordHeader
	idt   [36 + len(time.RFC3339Nano) + 6]byte
	key   [48]byte
	value [256]byte
}

// newRecord builds an output record with CloudEvents binary-mode headers,
// carrying the input's W3C trace context unchanged; the caller appends the
// value to o.value[:0].
func newRecord(in *kgo.Record, topic, key string, id uuid.UUID, typ []byte, at time.Time) *outRecord {
	o := new(outRecord)
	hexUUID(o.idt[:36], id)
	idt := recordTimes.AppendRFC3339Nano(o.idt[:36], at.UTC())
	r := &o.rec
	r.Topic, r.Key = topic, append(o.key[:0], key...)
	r.Headers = o.hdrs[:6]
	r.Headers[0] = kgo.RecordHeader{Key: kafka.HeaderID, Value: idt[:36:36]}
	r.Headers[1] = kgo.RecordHeader{Key: kafka.HeaderType, Value: typ}
	r.Headers[2] = kgo.RecordHeader{Key: kafka.HeaderSource, Value: hdrSource}
	r.Headers[3] = kgo.RecordHeader{Key: kafka.HeaderSpecVersion, Value: hdrSpecVersion}
	r.Headers[4] = kgo.RecordHeader{Key: kafka.HeaderTime, Value: idt[36:len(idt):len(idt)]}
	r.Headers[5] = kgo.RecordHeader{Key: kafka.HeaderContentType, Value: hdrContentType}
	if in != nil {
		for _, h := range in.Headers {
			if h.Key == "traceparent" || h.Key == "tracestate" {
				r.Headers = append(r.Headers, h)
			}
		}
	}
	return o
}

// uuidV5 is uuid.NewSHA1(ns, name) without its allocations (a hash per
// result record showed in profiles).
func uuidV5(ns uuid.UUID, name []byte) uuid.UUID {
	var buf [256]byte
	in := append(append(buf[:0], ns[:]...), name...)
	sum := sha1.Sum(in) //nolint:gosec // UUIDv5 is defined on SHA-1; not used for security.
	var id uuid.UUID
	copy(id[:], sum[:16])
	id[6] = (id[6] & 0x0f) | 0x50 // version 5
	id[8] = (id[8] & 0x3f) | 0x80 // RFC 4122 variant
	return id
}

// hexUUID writes id's canonical text form into dst[:36].
func hexUUID(dst []byte, id uuid.UUID) {
	const hexdigits = "0123456789abcdef"
	j := 0
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j], dst[j+1] = hexdigits[c>>4], hexdigits[c&0xf]
		j += 2
	}
}

// resultRecord is the answer to a Reserve on inventory.results.v1 (key
// orderId). Its id is derived from (orderId, lineNo): a line has one answer.
func resultRecord(in *kgo.Record, topic, productID string, c domain.Reserve, res domain.Result) *kgo.Record {
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
	var name [160]byte
	n := append(append(append(name[:0], "result\x00"...), c.OrderID...), 0)
	id := uuidV5(eventNamespace, strconv.AppendInt(n, int64(c.LineNo), 10))
	o := newRecord(in, topic, c.OrderID, id, hdrResultType, res.At)
	o.rec.Value = appendResult(o.value[:0], &v)
	return &o.rec
}

// snapshotRecord is a product's public stock on inventory.stock.v1 (key
// productId, compacted). Its id is derived from (productId, version).
func snapshotRecord(topic, productID string, st domain.Stock) *kgo.Record {
	v := schemas.StockSnapshot{
		ProductID: productID, OnHand: st.OnHand, Reserved: st.Reserved, Available: st.Available(),
		Version: st.Version, UpdatedAt: st.UpdatedAt,
	}
	var name [160]byte
	n := append(append(append(name[:0], "stock\x00"...), productID...), 0)
	id := uuidV5(eventNamespace, strconv.AppendInt(n, st.Version, 10))
	o := newRecord(nil, topic, productID, id, hdrSnapshotType, st.UpdatedAt)
	o.rec.Value = appendSnapshot(o.value[:0], &v)
	return &o.rec
}
