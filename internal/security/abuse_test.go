package security

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/catalog"
	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/pkg/httpserver"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

// endless is a body that never ends; it counts what the client sent.
type endless struct{ n atomic.Int64 }

func (e *endless) Read(p []byte) (int, error) {
	if e.n.Load() > 64<<20 { // a safety stop: the server should have hung up long before
		return 0, io.EOF
	}
	for i := range p {
		p[i] = ' '
	}
	e.n.Add(int64(len(p)))
	return len(p), nil
}

const (
	typeValidation = intake.TypeValidation
	typeMalformed  = intake.TypeMalformed
)

// TestOrderAbuse: every hostile or broken POST /api/v1/orders gets its
// exact 4xx problem and produces nothing to orders.requests.v1; the valid
// rows (retries included) produce exactly one record each — read back from
// Kafka.
func TestOrderAbuse(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	url := s.ingress + "/api/v1/orders"
	line := func(pid string, qty string) string { return fmt.Sprintf(`{"productId":%q,"quantity":%s}`, pid, qty) }
	lines := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = line(fmt.Sprintf("p-%d", i), "1")
		}
		return out
	}
	big := orderJSON("c-big")
	big = big[:len(big)-1] + `,"pad":"` + strings.Repeat("x", 64<<10) + `"}`
	unbounded := &endless{}
	ct := func(v string) http.Header { return hdr("Content-Type", v) }

	rows := []struct {
		name    string
		key     string // Idempotency-Key ("" = none sent)
		body    string
		reader  io.Reader   // instead of body
		header  http.Header // extra headers
		before  string      // a body sent first with the same key (expects 202)
		repeat  int         // send the row this many times (default 1)
		status  int
		typ     string
		records int // on orders.requests.v1 under key
	}{
		{name: "valid", key: "k-valid", body: orderJSON("c-1"), status: 202, records: 1},
		{name: "valid, retried 3 times", key: "k-retry", body: orderJSON("c-1"), repeat: 3, status: 202, records: 1},
		{name: "same key, other body", key: "k-reuse", before: orderJSON("c-1"), body: orderJSON("c-1", line("p-1", "3")), status: 422, typ: intake.TypeKeyReused, records: 1},
		{name: "100 lines", key: "k-100", body: orderJSON("c-1", lines(100)...), status: 202, records: 1},
		{name: "quantity 9999", key: "k-9999", body: orderJSON("c-1", line("p-1", "9999")), status: 202, records: 1},
		{name: "unknown product (the saga rejects it)", key: "k-unknown-product", body: orderJSON("c-1", line("no-such-product", "1")), status: 202, records: 1},
		{name: "charset parameter", key: "k-charset", body: orderJSON("c-1"), header: ct("application/json; charset=utf-8"), status: 202, records: 1},
		{name: "no Content-Type", key: "k-no-ct", body: orderJSON("c-1"), header: ct(""), status: 202, records: 1},
		{name: "Prefer: wait=garbage", key: "k-prefer", body: orderJSON("c-1"), header: hdr("Prefer", "wait=99999999999999999999, wait=-1"), status: 202, records: 1},

		{name: "no Idempotency-Key", body: orderJSON("c-1"), status: 400, typ: intake.TypeMissingKey},
		{name: "Idempotency-Key of 256 bytes", key: strings.Repeat("k", 256), body: orderJSON("c-1"), status: 400, typ: typeValidation},
		{name: "Idempotency-Key not UTF-8", key: "k-\xff\xfe", body: orderJSON("c-1"), status: 400, typ: typeValidation},
		{name: "body one byte over 64 KiB", key: "k-big", body: big, status: 413, typ: intake.TypeTooLarge},
		{name: "endless body", key: "k-endless", reader: unbounded, status: 413, typ: intake.TypeTooLarge},
		{name: "headers over 32 KiB", key: "k-431", body: orderJSON("c-1"), header: hdr("X-Pad", strings.Repeat("a", httpserver.MaxHeaderBytes)), status: 431, typ: httpserver.TypeHeadersTooLarge},
		{name: "malformed JSON", key: "k-malformed", body: `{"customerId":"c-1",`, status: 400, typ: typeMalformed},
		{name: "empty body", key: "k-empty", body: "", status: 400, typ: typeMalformed},
		{name: "null", key: "k-null", body: "null", status: 400, typ: typeValidation},
		{name: "array", key: "k-array", body: "[" + orderJSON("c-1") + "]", status: 400, typ: typeValidation},
		{name: "trailing garbage", key: "k-trailing", body: orderJSON("c-1") + "{}", status: 400, typ: typeMalformed},
		{name: "duplicate key", key: "k-dup", body: `{"customerId":"c-1",` + orderJSON("c-2")[1:], status: 400, typ: typeMalformed},
		{name: "duplicate key, other case", key: "k-dup-case", body: `{"CUSTOMERID":"c-1",` + orderJSON("c-2")[1:], status: 400, typ: typeMalformed},
		{name: "duplicate key in a line", key: "k-dup-line", body: orderJSON("c-1", `{"productId":"p-1","quantity":1,"quantity":9}`), status: 400, typ: typeMalformed},
		{name: "duplicate unknown key", key: "k-dup-unknown", body: `{"page":1,"page":2,` + orderJSON("c-1")[1:], status: 400, typ: typeMalformed},
		{name: "deeply nested", key: "k-deep", body: `{"x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "," + orderJSON("c-1")[1:], status: 400, typ: typeMalformed},
		{name: "text/plain", key: "k-text", body: orderJSON("c-1"), header: ct("text/plain"), status: 415, typ: intake.TypeUnsupportedMed},
		{name: "form", key: "k-form", body: "customerId=c-1", header: ct("application/x-www-form-urlencoded"), status: 415, typ: intake.TypeUnsupportedMed},
		{name: "json lookalike type", key: "k-jsonx", body: orderJSON("c-1"), header: ct("text/jsonx"), status: 415, typ: intake.TypeUnsupportedMed},
		{name: "NUL in customerId", key: "k-nul", body: strings.Replace(orderJSON("c-1"), "c-1", `c-\u0000`, 1), status: 400, typ: typeValidation},
		{name: "RTL override in customerId", key: "k-rtl", body: orderJSON("c-\u202e1"), status: 400, typ: typeValidation},
		{name: "zero-width space in productId", key: "k-zwsp", body: orderJSON("c-1", line("p-\u200b1", "1")), status: 400, typ: typeValidation},
		{name: "customerId of 129 characters", key: "k-long-id", body: orderJSON(strings.Repeat("é", 129)), status: 400, typ: typeValidation},
		{name: "invalid UTF-8 in customerId", key: "k-bad-utf8", body: strings.Replace(orderJSON("c-1"), "c-1", "c-\xff", 1), status: 400, typ: typeValidation},
		{name: "overlong UTF-8 NUL in customerId", key: "k-overlong", body: strings.Replace(orderJSON("c-1"), "c-1", "c-\xc0\x80", 1), status: 400, typ: typeValidation},
		{name: "lone surrogate in customerId", key: "k-surrogate", body: strings.Replace(orderJSON("c-1"), "c-1", `c-\ud800`, 1), status: 400, typ: typeValidation},
		{name: "quantity -1", key: "k-neg", body: orderJSON("c-1", line("p-1", "-1")), status: 400, typ: typeValidation},
		{name: "quantity 0", key: "k-zero", body: orderJSON("c-1", line("p-1", "0")), status: 400, typ: typeValidation},
		{name: "quantity 10000", key: "k-10000", body: orderJSON("c-1", line("p-1", "10000")), status: 400, typ: typeValidation},
		{name: "quantity 2^63", key: "k-huge", body: orderJSON("c-1", line("p-1", "9223372036854775808")), status: 400, typ: typeValidation},
		{name: "quantity 1e400", key: "k-1e400", body: orderJSON("c-1", line("p-1", "1e400")), status: 400},
		{name: "quantity 1.5", key: "k-frac", body: orderJSON("c-1", line("p-1", "1.5")), status: 400, typ: typeValidation},
		{name: `quantity "2"`, key: "k-string-qty", body: orderJSON("c-1", line("p-1", `"2"`)), status: 400, typ: typeValidation},
		{name: "101 lines", key: "k-101", body: orderJSON("c-1", lines(101)...), status: 400, typ: typeValidation},
		{name: "no lines", key: "k-0-lines", body: strings.Replace(orderJSON("c-1"), `[{"productId":"p-1","quantity":2}]`, "[]", 1), status: 400, typ: typeValidation},
	}
	for _, row := range rows {
		h := hdr("Content-Type", "application/json")
		if row.key != "" {
			h.Set("Idempotency-Key", row.key)
		}
		for k, v := range row.header {
			if v[0] == "" {
				h.Del(k)
			} else {
				h[k] = v
			}
		}
		if row.before != "" {
			if r := send(t, req{"POST", url, strings.NewReader(row.before), h}); r.Status != 202 {
				t.Fatalf("%s: first request %d %s", row.name, r.Status, r.Raw)
			}
		}
		for range max(row.repeat, 1) {
			body := row.reader
			if body == nil {
				body = strings.NewReader(row.body)
			}
			r := send(t, req{"POST", url, body, h})
			checkProblem(t, row.name, r, row.status, row.typ)
		}
	}
	// The endless body was refused without being read: the server stopped
	// after its 64 KiB limit (what the client got into socket buffers on
	// the way is bounded by the kernel, not by the body).
	if n := unbounded.n.Load(); n > 16<<20 {
		t.Errorf("endless body: the client wrote %d bytes before the server hung up", n)
	}

	got := requestsByKey(t, s)
	want, total := map[string]int{}, 0
	for _, row := range rows {
		if row.records > 0 {
			want[row.key] = row.records
			total += row.records
		}
	}
	for k, n := range got {
		if want[k] != n {
			t.Errorf("orders.requests.v1 holds %d record(s) for key %q; want %d", n, k, want[k])
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("orders.requests.v1 holds %d record(s) for key %q; want %d", got[k], k, n)
		}
	}
}

// TestCancelAndReadAbuse: malformed and unknown ids are 404 problems and
// put nothing on orders.commands.v1; a real cancel puts exactly one.
func TestCancelAndReadAbuse(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	r := send(t, req{"POST", s.ingress + "/api/v1/orders", strings.NewReader(orderJSON("c-1")), hdr("Idempotency-Key", "cancel-me")})
	if r.Status != 202 {
		t.Fatalf("POST: %d %s", r.Status, r.Raw)
	}
	id, _ := r.Body["orderId"].(string)
	unknown := schemas.OrderID("nobody", "nothing")
	for _, row := range []struct {
		name, method, path string
		status             int
	}{
		{"cancel, not a UUID", "POST", "/api/v1/orders/not-a-uuid/cancel", 404},
		{"cancel, unknown order", "POST", "/api/v1/orders/" + unknown + "/cancel", 404},
		{"cancel, UUID with junk", "POST", "/api/v1/orders/" + id + "x/cancel", 404},
		{"cancel, percent-encoded NUL", "POST", "/api/v1/orders/%00/cancel", 404},
		{"read, unknown order", "GET", "/api/v1/orders/" + unknown, 404},
		{"read, braces UUID", "GET", "/api/v1/orders/{" + id + "}", 404},
		{"read, urn UUID", "GET", "/api/v1/orders/urn:uuid:" + id, 404},
		{"list, no customer", "GET", "/api/v1/orders", 400},
		{"list, pageSize 0", "GET", "/api/v1/orders?customerId=c-1&pageSize=0", 400},
		{"list, pageSize huge", "GET", "/api/v1/orders?customerId=c-1&pageSize=99999999999999999999", 400},
		{"list, garbage cursor", "GET", "/api/v1/orders?customerId=c-1&cursor=%FF%FE", 400},
		{"cancel", "POST", "/api/v1/orders/" + id + "/cancel", 202},
		{"cancel again (idempotent)", "POST", "/api/v1/orders/" + id + "/cancel", 202},
	} {
		checkProblem(t, row.name, send(t, req{row.method, s.ingress + row.path, nil, nil}), row.status, "")
	}
	// Two accepted cancels of one order: two commands (the processor
	// applies the first; the second is a no-op), none for the refused ones.
	cmds := testenv.ReadAll(t, s.kafka, s.names.OrderCommands)
	for _, c := range cmds {
		if string(c.Key) != id {
			t.Errorf("a command for %q reached orders.commands.v1", c.Key)
		}
	}
	if len(cmds) != 2 {
		t.Errorf("%d commands on orders.commands.v1; want 2 (both for %s)", len(cmds), id)
	}
}

// TestCatalogAbuse: hostile cart and admin bodies get their exact problem;
// a refused checkout produces nothing, an accepted one exactly one order
// request (keyed by the cart id); refused admin writes produce nothing.
func TestCatalogAbuse(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	seedProduct(t, s, "p-1")
	newCart := func() string {
		r := send(t, req{"POST", s.catalog + "/api/v1/carts", nil, nil})
		if r.Status != 201 {
			t.Fatalf("create cart: %d %s", r.Status, r.Raw)
		}
		return r.Body["id"].(string)
	}
	cart := newCart()
	if r := send(t, req{"PUT", s.catalog + "/api/v1/carts/" + cart + "/items", strings.NewReader(`{"productId":"p-1","quantity":2}`), hdr("Content-Type", "application/json")}); r.Status != 200 {
		t.Fatalf("add item: %d %s", r.Status, r.Raw)
	}
	items := "/api/v1/carts/" + cart + "/items"
	checkout := "/api/v1/carts/" + cart + "/checkout"
	addr := `{"customerId":"c-1","shippingAddress":{"addressLine1":"1 Main St","city":"Springfield","stateOrProvince":"IL","postalCode":"62701","country":"US"}}`
	jsonCT := hdr("Content-Type", "application/json")
	for _, row := range []struct {
		name, method, path, body string
		header                   http.Header
		status                   int
		typ                      string
	}{
		{"create cart, body over 64 KiB", "POST", "/api/v1/carts", `{"sessionId":"` + strings.Repeat("s", 64<<10) + `"}`, jsonCT, 413, intake.TypeTooLarge},
		{"item, duplicate key", "PUT", items, `{"productId":"p-1","quantity":1,"quantity":9999}`, jsonCT, 400, typeMalformed},
		{"item, text/plain", "PUT", items, `{"productId":"p-1","quantity":1}`, hdr("Content-Type", "text/plain"), 415, intake.TypeUnsupportedMed},
		{"item, quantity -5", "PUT", items, `{"productId":"p-1","quantity":-5}`, jsonCT, 400, typeValidation},
		{"item, quantity 2^63", "PUT", items, `{"productId":"p-1","quantity":9223372036854775808}`, jsonCT, 400, typeValidation},
		{"item, RTL in productId", "PUT", items, `{"productId":"p-\u202e1","quantity":1}`, jsonCT, 400, typeValidation},
		{"item, unknown product", "PUT", items, `{"productId":"p-404","quantity":1}`, jsonCT, 422, typeValidation},
		{"item, deeply nested", "PUT", items, `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"productId":"p-1","quantity":1}`, jsonCT, 400, typeMalformed},
		{"item, body over 64 KiB", "PUT", items, `{"x":"` + strings.Repeat("x", 64<<10) + `"}`, jsonCT, 413, intake.TypeTooLarge},
		{"item, cart id not a UUID", "PUT", "/api/v1/carts/../../admin/items", `{"productId":"p-1","quantity":1}`, jsonCT, 404, ""},
		{"checkout, duplicate customerId", "POST", checkout, `{"customerId":"c-2",` + addr[1:], jsonCT, 400, typeMalformed},
		{"checkout, text/plain", "POST", checkout, addr, hdr("Content-Type", "text/plain"), 415, intake.TypeUnsupportedMed},
		{"checkout, malformed", "POST", checkout, `{"customerId":`, jsonCT, 400, typeMalformed},
		{"checkout, NUL customerId", "POST", checkout, strings.Replace(addr, "c-1", `c-\u0000`, 1), jsonCT, 400, typeValidation},
		{"checkout, lines smuggled in", "POST", checkout, strings.Replace(addr, `"customerId"`, `"lines":[{"productId":"p-1","quantity":9999}],"customerId"`, 1), jsonCT, 202, ""},
		{"checkout again (replay)", "POST", checkout, addr, jsonCT, 202, ""},
		{"admin product, duplicate price", "PUT", "/api/v1/admin/products/p-2", `{"name":"n","sku":"s","categoryId":"c","price":{"amount":1,"currency":"USD"},"price":{"amount":-1,"currency":"USD"}}`, jsonCT, 400, typeMalformed},
		{"admin product, RTL id", "PUT", "/api/v1/admin/products/p-%E2%80%AE2", `{"name":"n","sku":"s","categoryId":"c","price":{"amount":1,"currency":"USD"}}`, jsonCT, 400, typeValidation},
		{"admin adjust, duplicate delta", "POST", "/api/v1/admin/inventory/p-1/adjust", `{"adjustmentId":"a-1","delta":1,"delta":-100000}`, jsonCT, 400, typeMalformed},
		{"admin adjust, text/plain", "POST", "/api/v1/admin/inventory/p-1/adjust", `{"adjustmentId":"a-1","delta":1}`, hdr("Content-Type", "text/plain"), 415, intake.TypeUnsupportedMed},
	} {
		checkProblem(t, row.name, send(t, req{row.method, s.catalog + row.path, strings.NewReader(row.body), row.header}), row.status, row.typ)
	}
	got := requestsByKey(t, s)
	if len(got) != 1 || got[cart] != 1 {
		t.Errorf("orders.requests.v1 by key: %v; want exactly one record, for cart %s", got, cart)
	}
	// The order is the cart's lines, not the ones smuggled into the body.
	for _, r := range testenv.ReadAll(t, s.kafka, s.names.OrderRequests) {
		var v schemas.OrderRequest
		_ = json.Unmarshal(r.Value, &v)
		if len(v.Lines) != 1 || v.Lines[0].Quantity != 2 {
			t.Errorf("checkout order lines %+v; want the cart's (p-1 × 2)", v.Lines)
		}
	}
	if n := len(testenv.ReadAll(t, s.kafka, s.names.InventoryCommands)); n != 0 {
		t.Errorf("%d records on inventory.commands.v1; want 0 (every admin adjust was refused)", n)
	}
	if n := len(testenv.ReadAll(t, s.kafka, s.names.CatalogProducts)); n != 1 {
		t.Errorf("%d records on catalog.products.v1; want 1 (the seed; every admin upsert was refused)", n)
	}
}

// seedProduct puts a product on catalog.products.v1 and waits until the
// catalog serves it.
func seedProduct(t testing.TB, s *stack, id string) {
	t.Helper()
	cl, err := kafka.NewProducer(s.kafka, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rec, err := catalog.NewRecords(s.kafka.TopicPrefix).Product(context.Background(), schemas.Product{ProductID: id, SKU: "SKU-" + id, Name: "Widget",
		CategoryID: "cat", Price: schemas.Money{Amount: 1000, Currency: "USD"}, Active: true, Version: 1, UpdatedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := json.Marshal(schemas.StockSnapshot{ProductID: id, OnHand: 100, Available: 100, Version: 1, UpdatedAt: time.Now().UTC()})
	stock := kafka.NewRecord(context.Background(), s.names.InventoryStock, []byte(id), snap, kafka.Event{Type: schemas.TypeStockSnapshot, Source: "/test"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, rec, stock).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the catalog serves product "+id+" with its stock", func() error {
		r := send(t, req{"GET", s.catalog + "/api/v1/products/" + id, nil, nil})
		if avail, _ := r.Body["availability"].(map[string]any); r.Status == 200 && avail != nil && avail["availableQuantity"] == float64(100) {
			return nil
		}
		return fmt.Errorf("%d %.300s", r.Status, r.Raw)
	})
}

// TestSlowloris: clients that trickle their headers are dropped after the
// read-header timeout while a normal client is served throughout.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil)
	host := strings.TrimPrefix(s.ingress, "http://")
	const slow = 20
	closed := make(chan time.Duration, slow)
	start := time.Now()
	for range slow {
		var d net.Dialer
		c, err := d.DialContext(context.Background(), "tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		go func() {
			// One header byte a second, never finishing; stop when the
			// server hangs up.
			_, _ = c.Write([]byte("POST /api/v1/orders HTTP/1.1\r\nHost: x\r\n"))
			for i := 0; ; i++ {
				if _, err := c.Write([]byte{'X'}); err != nil {
					break
				}
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				var b [512]byte
				if _, err := c.Read(b[:]); err != nil && !isTimeout(err) {
					break
				}
			}
			closed <- time.Since(start)
		}()
	}
	// Served meanwhile.
	for i := range 5 {
		r := send(t, req{"GET", s.ingress + "/health/live", nil, nil})
		if r.Status != 200 {
			t.Fatalf("live check %d during the slow clients: %d", i, r.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Dropped: the header timeout is 2s; allow generously for a loaded machine.
	for range slow {
		select {
		case <-closed:
		case <-time.After(60 * time.Second):
			t.Fatal("a slow client was still connected after 60s (ReadHeaderTimeout 2s)")
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
