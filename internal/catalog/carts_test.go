package catalog

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
	"github.com/orderpipe/orderpipe/schemas"
)

const address = `{"addressLine1":"1 Main St","city":"Springfield","stateOrProvince":"IL","postalCode":"62701","country":"US"}`

func checkoutBody(customer string) string {
	return fmt.Sprintf(`{"customerId":%q,"shippingAddress":%s,"currency":"USD"}`, customer, address)
}

// Checking out a cart, however often and however concurrently, produces
// exactly one order request, and every accepted answer names the same
// order; the cart is frozen afterwards.
func TestCartCheckoutProducesExactlyOneOrder(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	h := startCatalog(t, testConfig(k, r))
	w := newWriter(t, k)
	w.products(product("p-1", "Mug", "kitchen", 1200, 1), product("p-2", "Plate", "kitchen", 800, 1))
	w.stock(stock("p-1", 50, 1), stock("p-2", 2, 1))
	eventually(t, 30*time.Second, "products in stock", func() bool {
		return field(h.get("/api/v1/products/p-2").Body, "availability", "isAvailable") == true
	})

	created := h.do("POST", "/api/v1/carts", `{"sessionId":"legacy-session-1"}`, nil)
	id, _ := created.Body["id"].(string)
	if created.Status != 201 || id == "" || created.Header.Get("Location") != "/api/v1/carts/"+id {
		t.Fatalf("create cart: %d %v %s", created.Status, created.Header, created.Raw)
	}
	put := func(body string) response { return h.do("PUT", "/api/v1/carts/"+id+"/items", body, nil) }
	if got := put(`{"productId":"p-1","quantity":3}`); got.Status != 200 {
		t.Fatalf("add p-1: %d %s", got.Status, got.Raw)
	}
	if got := put(`{"productId":"p-2","quantity":5}`); got.Status != 422 {
		t.Fatalf("5 of 2 available: %d %s; want 422", got.Status, got.Raw)
	}
	if got := put(`{"productId":"nope","quantity":1}`); got.Status != 422 {
		t.Fatalf("unknown product: %d %s; want 422", got.Status, got.Raw)
	}
	if got := put(`{"productId":"p-2","quantity":0}`); got.Status != 400 {
		t.Fatalf("quantity 0: %d %s; want 400", got.Status, got.Raw)
	}
	if got := put(`{"productId":"p-2","quantity":"two"}`); got.Status != 400 {
		t.Fatalf("quantity of the wrong type: %d %s; want 400", got.Status, got.Raw)
	}
	if got := put(`{"productId":"p-2","quantity":2}`); got.Status != 200 {
		t.Fatalf("add p-2: %d %s", got.Status, got.Raw)
	}
	if got := put(`{"productId":"p-1","quantity":4}`); got.Status != 200 {
		t.Fatalf("set p-1 to 4: %d %s", got.Status, got.Raw)
	}
	h.do("PUT", "/api/v1/carts/"+id+"/items", `{"productId":"p-2","quantity":1}`, nil)
	if got := h.do("DELETE", "/api/v1/carts/"+id+"/items/p-2", "", nil); got.Status != 200 {
		t.Fatalf("remove p-2: %d", got.Status)
	}
	put(`{"productId":"p-2","quantity":1}`)
	view := h.get("/api/v1/carts/" + id)
	if view.Status != 200 || num(view.Body["itemCount"]) != 5 || num(field(view.Body, "subtotal", "amount")) != 4*1200+800 {
		t.Fatalf("cart view: %d %s", view.Status, view.Raw)
	}

	// Concurrent and repeated checkouts of one cart.
	var mu sync.Mutex
	statuses := map[int]int{}
	orderIDs := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := h.try("POST", "/api/v1/carts/"+id+"/checkout", checkoutBody("c-1"), nil)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			statuses[got.Status]++
			if got.Status == 202 {
				orderIDs[got.Body["orderId"].(string)] = true
			}
		})
	}
	wg.Wait()
	for range 3 {
		got := h.do("POST", "/api/v1/carts/"+id+"/checkout", checkoutBody("c-1"), nil)
		if got.Status != 202 || got.Header.Get("Location") != "/api/v1/orders/"+got.Body["orderId"].(string) || got.Body["status"] != schemas.StatusAccepted {
			t.Fatalf("repeated checkout: %d %v %s", got.Status, got.Header, got.Raw)
		}
		orderIDs[got.Body["orderId"].(string)] = true
	}
	for s := range statuses {
		if s != 202 && s != 409 {
			t.Errorf("concurrent checkout answered %d (%v)", s, statuses)
		}
	}
	want := schemas.OrderID("c-1", id)
	if len(orderIDs) != 1 || !orderIDs[want] {
		t.Fatalf("checkouts answered orders %v; want only %s", orderIDs, want)
	}

	reqs := testenv.ReadAll(t, k, kafka.TopicNames(k.TopicPrefix).OrderRequests)
	var mine []schemas.OrderRequest
	for _, rec := range reqs {
		if string(rec.Key) == string(schemas.RequestKey("c-1", id)) {
			var or schemas.OrderRequest
			if err := json.Unmarshal(rec.Value, &or); err != nil {
				t.Fatal(err)
			}
			mine = append(mine, or)
		}
	}
	if len(mine) != 1 {
		t.Fatalf("%d order requests for the cart, want exactly 1", len(mine))
	}
	or := mine[0]
	if or.OrderID != want || or.IdempotencyKey != id || or.CustomerID != "c-1" || len(or.Lines) != 2 ||
		or.Lines[0] != (schemas.Line{ProductID: "p-1", Quantity: 4}) || or.Lines[1] != (schemas.Line{ProductID: "p-2", Quantity: 1}) {
		t.Fatalf("order request: %+v", or)
	}

	// The cart is frozen and pinned to its customer.
	if got := put(`{"productId":"p-1","quantity":1}`); got.Status != 409 {
		t.Fatalf("change after checkout: %d; want 409", got.Status)
	}
	if got := h.do("POST", "/api/v1/carts/"+id+"/checkout", checkoutBody("c-2"), nil); got.Status != 409 {
		t.Fatalf("another customer's checkout: %d; want 409", got.Status)
	}
	if got := h.get("/api/v1/carts/" + id); got.Body["orderId"] != want {
		t.Fatalf("cart does not show its order: %s", got.Raw)
	}
}

// The checkout answers invalid requests exactly as POST /api/v1/orders does.
func TestCheckoutValidation(t *testing.T) {
	t.Parallel()
	k, r := servers(t)
	h := startCatalog(t, testConfig(k, r))
	id := h.do("POST", "/api/v1/carts", "", nil).Body["id"].(string)
	cases := []struct {
		name, body string
		status     int
	}{
		{"empty cart", checkoutBody("c-1"), 400},
		{"malformed JSON", `{"customerId":`, 400},
		{"no customer", `{"shippingAddress":` + address + `}`, 400},
		{"bad country", `{"customerId":"c-1","shippingAddress":{"addressLine1":"x","city":"y","stateOrProvince":"z","postalCode":"1","country":"XX"}}`, 400},
		{"wrong type", `{"customerId":7,"shippingAddress":` + address + `}`, 400},
	}
	for _, c := range cases {
		got := h.do("POST", "/api/v1/carts/"+id+"/checkout", c.body, nil)
		if got.Status != c.status || got.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s; want %d problem", c.name, got.Status, got.Raw, c.status)
		}
	}
	if got := h.do("POST", "/api/v1/carts/00000000-0000-4000-8000-000000000000/checkout", checkoutBody("c-1"), nil); got.Status != 404 {
		t.Errorf("unknown cart: %d", got.Status)
	}
	if got := h.get("/api/v1/carts/not-a-uuid"); got.Status != 404 {
		t.Errorf("malformed cart id: %d", got.Status)
	}
}
