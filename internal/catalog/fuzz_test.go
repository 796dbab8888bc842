package catalog

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
)

// FuzzDecodeChange: any record on catalog.products.v1 or inventory.stock.v1
// decodes to a change for its key or to an error (the projector's DLQ),
// never a panic and never a change for another product.
func FuzzDecodeChange(f *testing.F) {
	f.Add(false, []byte("p-1"), []byte(`{"productId":"p-1","sku":"s","name":"n","categoryId":"c","price":{"amount":1,"currency":"USD"},"active":true,"version":1}`))
	f.Add(true, []byte("p-1"), []byte(`{"productId":"p-1","onHand":5,"reserved":1,"available":4,"version":3}`))
	f.Add(false, []byte("p-1"), []byte(`{"productId":"p-2"}`))
	f.Add(true, []byte(""), []byte(`{}`))
	f.Add(false, []byte("p-1"), []byte(`{"categoryId":"a b","active":true}`))
	names := kafka.TopicNames("")
	f.Fuzz(func(t *testing.T, stock bool, key, value []byte) {
		topic := names.CatalogProducts
		if stock {
			topic = names.InventoryStock
		}
		c, err := decodeChange(&kgo.Record{Topic: topic, Key: key, Value: value}, names)
		if err == nil && c.ProductID != string(key) {
			t.Fatalf("change for %q from a record keyed %q", c.ProductID, key)
		}
	})
}

// FuzzBodies: cart item and admin bodies answer a 4xx problem or decode;
// what decodes is validated before anything is produced (records.Product,
// records.Adjust refuse, never panic).
func FuzzBodies(f *testing.F) {
	for _, s := range []string{
		`{"productId":"p-1","quantity":2}`,
		`{"productId":"p-1","quantity":1,"quantity":2}`,
		`{"sku":"s","name":"n","categoryId":"c","price":{"amount":100,"currency":"usd"},"isActive":false}`,
		`{"adjustmentId":"a","delta":-5,"absolute":3,"reason":"r"}`,
		`{"price":{"amount":1e99}}`,
		`[` + strings.Repeat("[", 40),
	} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{}`), "text/plain")
	rec := NewRecords("")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		for _, dst := range []any{&putItemBody{}, &productBody{}, &adjustBody{}} {
			r := httptest.NewRequest("PUT", "/", strings.NewReader(string(body)))
			r.Header.Set("Content-Type", contentType)
			w := httptest.NewRecorder()
			p := decodeBody(w, r, dst)
			if p != nil {
				if p.Status < 400 || p.Status > 499 {
					t.Fatalf("status %d for %q", p.Status, body)
				}
				continue
			}
			switch b := dst.(type) {
			case *productBody:
				_, _ = rec.Product(context.Background(), schemas.Product{ProductID: "p-1", SKU: b.SKU, Name: b.Name, Description: b.Description,
					CategoryID: b.CategoryID, Price: b.Price, Active: b.IsActive == nil || *b.IsActive, Version: 1})
			case *adjustBody:
				_, _ = rec.Adjust(context.Background(), schemas.InventoryCommand{ProductID: "p-1", AdjustmentID: b.AdjustmentID, Delta: b.Delta, Absolute: b.Absolute, Reason: b.Reason})
			}
		}
	})
}

// FuzzETagMatches: If-None-Match of any shape is compared without panic;
// "*" and the exact tag match.
func FuzzETagMatches(f *testing.F) {
	f.Add(`"abc"`, `"abc"`)
	f.Add(`W/"abc", "def"`, `"def"`)
	f.Add(`*`, `"x"`)
	f.Add(`,,,`, `""`)
	f.Fuzz(func(t *testing.T, header, etag string) {
		got := etagMatches(header, etag)
		if (header == etag || header == "*") && !got {
			t.Fatalf("etagMatches(%q, %q) = false", header, etag)
		}
	})
}
