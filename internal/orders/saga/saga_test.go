package saga_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/orders/saga"
	"github.com/orderpipe/orderpipe/schemas"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

const timeout = 10 * time.Minute

func request(lines ...schemas.Line) schemas.OrderRequest {
	if len(lines) == 0 {
		lines = []schemas.Line{{ProductID: "beans", Quantity: 2}, {ProductID: "grinder", Quantity: 1}, {ProductID: "beans", Quantity: 3}}
	}
	return schemas.OrderRequest{
		OrderID: schemas.OrderID("customer-42", "key-1"), Scope: "customer-42", IdempotencyKey: "key-1",
		BodyHash: strings.Repeat("ab", 32), CustomerID: "customer-42", Currency: "USD", ReceivedAt: t0,
		ShippingAddress: schemas.Address{AddressLine1: "1 Main St", City: "Springfield", StateOrProvince: "IL", PostalCode: "62701", Country: "US"},
		Lines:           lines,
	}
}

func reserved(line int, product string, qty int, price int64) saga.Result {
	return saga.Result{LineNo: line, ProductID: product, Quantity: qty, Reserved: true, UnitPrice: schemas.Money{Amount: price, Currency: "USD"}}
}

func rejected(line int, product string, qty int, reason string) saga.Result {
	return saga.Result{LineNo: line, ProductID: product, Quantity: qty, Reason: reason}
}

func placed(t *testing.T) saga.Saga {
	t.Helper()
	s, fx := saga.Place(request(), nil, t0, timeout)
	if fx.Step != saga.Updated {
		t.Fatalf("place: step %v", fx.Step)
	}
	return s
}

func cmdTypes(cs []schemas.InventoryCommand) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.Type[:2])
		b.WriteByte(byte('0' + c.LineNo))
		b.WriteByte(' ')
	}
	return strings.TrimSpace(b.String())
}

func TestCheckRequest(t *testing.T) {
	long := strings.Repeat("k", 256)
	cases := []struct {
		name string
		edit func(*schemas.OrderRequest)
		bad  string
	}{
		{"valid", func(*schemas.OrderRequest) {}, ""},
		{"orderId not derived from the key", func(r *schemas.OrderRequest) { r.OrderID = schemas.OrderID("customer-42", "key-2") }, "not the id of its scope and key"},
		{"orderId not a UUID", func(r *schemas.OrderRequest) { r.OrderID = "order-1" }, "not a UUID"},
		{"key too long", func(r *schemas.OrderRequest) {
			r.IdempotencyKey = long
			r.OrderID = schemas.OrderID(r.Scope, long)
		}, "idempotencyKey"},
		{"bad hash", func(r *schemas.OrderRequest) { r.BodyHash = "XYZ" }, "bodyHash"},
		{"no customer", func(r *schemas.OrderRequest) { r.CustomerID = "" }, "customerId"},
		{"lower-case currency", func(r *schemas.OrderRequest) { r.Currency = "usd" }, "currency"},
		{"no country", func(r *schemas.OrderRequest) { r.ShippingAddress.Country = "" }, "shippingAddress"},
		{"no lines", func(r *schemas.OrderRequest) { r.Lines = nil }, "0 lines"},
		{"too many lines", func(r *schemas.OrderRequest) { r.Lines = make([]schemas.Line, 101) }, "101 lines"},
		{"zero quantity", func(r *schemas.OrderRequest) { r.Lines[1].Quantity = 0 }, "line 2"},
		{"quantity too big", func(r *schemas.OrderRequest) { r.Lines[0].Quantity = 10000 }, "line 1"},
		{"no product", func(r *schemas.OrderRequest) { r.Lines[2].ProductID = "" }, "line 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := request()
			c.edit(&r)
			err := saga.CheckRequest(r)
			switch {
			case c.bad == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case c.bad != "" && (err == nil || !errors.Is(err, saga.ErrInvalid) || !strings.Contains(err.Error(), c.bad)):
				t.Fatalf("want ErrInvalid mentioning %q, got %v", c.bad, err)
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	key := schemas.RequestKey("s", "k")
	seen := saga.Seen{Key: key, BodyHash: "h1", At: t0}
	cases := []struct {
		name  string
		found bool
		key   []byte
		hash  string
		want  saga.Decision
	}{
		{"first request", false, key, "h1", saga.New},
		{"retry with the same body", true, key, "h1", saga.Duplicate},
		{"same key, another body", true, key, "h2", saga.Conflict},
		{"another key on the same order id", true, schemas.RequestKey("sk", ""), "h1", saga.Conflict},
	}
	for _, c := range cases {
		if got := saga.Admit(seen, c.found, c.key, c.hash); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPlace(t *testing.T) {
	r := request()
	s, fx := saga.Place(r, nil, t0, timeout)
	if s.Status != schemas.StatusPending || s.Version != 1 || !s.Deadline.Equal(t0.Add(timeout)) || len(s.Answers) != 3 {
		t.Fatalf("saga %+v", s)
	}
	if len(fx.Events) != 1 || fx.Events[0].Type != schemas.TypeOrderPlaced || fx.Events[0].Version != 1 {
		t.Fatalf("events %+v", fx.Events)
	}
	if got := cmdTypes(fx.Commands); got != "re1 re2 re3" {
		t.Fatalf("commands %s", got)
	}
	for i, c := range fx.Commands {
		if c.ProductID != r.Lines[i].ProductID || c.Quantity != r.Lines[i].Quantity || c.Currency != "USD" || c.OrderID != r.OrderID {
			t.Errorf("reserve %d: %+v", i+1, c)
		}
	}
	if fx.State == nil || fx.State.Status != schemas.StatusPending || fx.State.Version != 1 {
		t.Fatalf("state %+v", fx.State)
	}
	// The saga owns its lines: changing the request afterwards changes nothing.
	r.Lines[0].Quantity = 99
	if s.Lines[0].Quantity != 2 {
		t.Fatal("saga shares the request's lines")
	}
}

func TestPlaceWithHeldCancel(t *testing.T) {
	s, fx := saga.Place(request(), &saga.Held{CommandID: "c1", Reason: "changed my mind", At: t0.Add(-time.Second)}, t0, timeout)
	if fx.Step != saga.Finished || s.Status != schemas.StatusCancelled || s.Version != 2 {
		t.Fatalf("step %v saga %+v", fx.Step, s)
	}
	if len(fx.Events) != 2 || fx.Events[0].Type != schemas.TypeOrderPlaced || fx.Events[1].Type != schemas.TypeOrderCancelled ||
		fx.Events[0].Version != 1 || fx.Events[1].Version != 2 || fx.Events[1].Reason != "changed my mind" {
		t.Fatalf("events %+v", fx.Events)
	}
	if len(fx.Commands) != 0 {
		t.Fatalf("a cancelled-before-placed order reserves nothing, got %s", cmdTypes(fx.Commands))
	}
	if fx.State.Status != schemas.StatusCancelled || fx.State.Version != 2 {
		t.Fatalf("state %+v", fx.State)
	}
}

// step is one input to a saga in a scenario.
type step struct {
	result *saga.Result
	cancel bool
	at     time.Duration // after t0; a timeout check when result and cancel are unset
}

func TestSagaScenarios(t *testing.T) {
	res := func(r saga.Result) *saga.Result { return &r }
	cases := []struct {
		name      string
		steps     []step
		status    string // final status
		version   int64
		commands  string // commands of the finishing step
		reason    string
		rejected  []int // rejected line numbers in the event
		total     int64
		finishAt  int // index of the finishing step; later steps must change nothing
		unchanged []int
	}{
		{
			name: "every line reserved: confirmed, priced, committed",
			steps: []step{
				{result: res(reserved(2, "grinder", 1, 12999))},
				{result: res(reserved(1, "beans", 2, 1850))},
				{result: res(reserved(3, "beans", 3, 1850))},
			},
			status: schemas.StatusConfirmed, version: 2, commands: "co1 co2 co3", total: 2*1850 + 12999 + 3*1850, finishAt: 2,
		},
		{
			name: "duplicate answers change nothing",
			steps: []step{
				{result: res(reserved(1, "beans", 2, 1850))},
				{result: res(reserved(1, "beans", 2, 1850))},
				{result: res(reserved(2, "grinder", 1, 100))},
				{result: res(reserved(3, "beans", 3, 1850))},
			},
			status: schemas.StatusConfirmed, version: 2, commands: "co1 co2 co3", total: 3700 + 100 + 5550, finishAt: 3, unchanged: []int{1},
		},
		{
			name: "a rejected line rejects at once and releases every line",
			steps: []step{
				{result: res(reserved(1, "beans", 2, 1850))},
				{result: res(rejected(2, "grinder", 1, schemas.ReasonInsufficientStock))},
				{result: res(reserved(3, "beans", 3, 1850))}, // late: ignored
			},
			status: schemas.StatusRejected, version: 2, commands: "re1 re2 re3", reason: schemas.ReasonInsufficientStock, rejected: []int{2}, finishAt: 1,
		},
		{
			name: "a price in another currency rejects the line",
			steps: []step{
				{result: &saga.Result{LineNo: 1, ProductID: "beans", Quantity: 2, Reserved: true, UnitPrice: schemas.Money{Amount: 10, Currency: "EUR"}}},
			},
			status: schemas.StatusRejected, version: 2, commands: "re1 re2 re3", reason: schemas.ReasonCurrencyMismatch, rejected: []int{1}, finishAt: 0,
		},
		{
			name: "cancel while pending releases every line",
			steps: []step{
				{result: res(reserved(1, "beans", 2, 1850))},
				{cancel: true},
				{result: res(reserved(2, "grinder", 1, 100))},
				{cancel: true},
			},
			status: schemas.StatusCancelled, version: 2, commands: "re1 re2 re3", reason: "customer request", finishAt: 1,
		},
		{
			name: "cancel after confirmation changes nothing",
			steps: []step{
				{result: res(reserved(1, "beans", 2, 1))},
				{result: res(reserved(2, "grinder", 1, 1))},
				{result: res(reserved(3, "beans", 3, 1))},
				{cancel: true},
			},
			status: schemas.StatusConfirmed, version: 2, commands: "co1 co2 co3", total: 6, finishAt: 2,
		},
		{
			name: "cancel after rejection changes nothing",
			steps: []step{
				{result: res(rejected(3, "beans", 3, schemas.ReasonUnknownProduct))},
				{cancel: true},
			},
			status: schemas.StatusRejected, version: 2, commands: "re1 re2 re3", reason: schemas.ReasonUnknownProduct, rejected: []int{3}, finishAt: 0,
		},
		{
			name: "no timeout before the deadline, rejection with releases at it",
			steps: []step{
				{result: res(reserved(1, "beans", 2, 1850))},
				{at: timeout - time.Nanosecond},
				{at: timeout},
				{result: res(reserved(2, "grinder", 1, 100))},
				{at: 2 * timeout},
			},
			status: schemas.StatusRejected, version: 2, commands: "re1 re2 re3", reason: schemas.ReasonTimeout, rejected: []int{2, 3}, finishAt: 2, unchanged: []int{1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := placed(t)
			var final saga.Effects
			for i, st := range c.steps {
				now := t0.Add(time.Duration(i+1) * time.Second)
				if st.at != 0 {
					now = t0.Add(st.at)
				}
				var fx saga.Effects
				var err error
				switch {
				case st.result != nil:
					s, fx, err = s.Answer(*st.result, now)
				case st.cancel:
					s, fx = s.Cancel(saga.Cancel{CommandID: "c", Reason: "customer request"}, now)
				default:
					s, fx = s.Timeout(now)
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				switch {
				case i == c.finishAt:
					if fx.Step != saga.Finished {
						t.Fatalf("step %d: want the order to finish, got step %v", i, fx.Step)
					}
					final = fx
				case i > c.finishAt || contains(c.unchanged, i):
					if fx.Step != saga.Unchanged || len(fx.Events)+len(fx.Commands) > 0 || fx.State != nil {
						t.Fatalf("step %d: want no change, got %+v", i, fx)
					}
				default:
					if fx.Step != saga.Updated || len(fx.Events)+len(fx.Commands) > 0 || fx.State != nil {
						t.Fatalf("step %d: want a quiet update, got %+v", i, fx)
					}
				}
			}
			if s.Status != c.status || s.Version != c.version {
				t.Fatalf("saga ends %s v%d, want %s v%d", s.Status, s.Version, c.status, c.version)
			}
			checkFinal(t, final, c.status, c.version, c.commands, c.reason, c.rejected, c.total)
		})
	}
}

func checkFinal(t *testing.T, fx saga.Effects, status string, version int64, commands, reason string, rejectedLines []int, total int64) {
	t.Helper()
	if len(fx.Events) != 1 {
		t.Fatalf("finishing step emitted %d events, want 1", len(fx.Events))
	}
	ev, st := fx.Events[0], fx.State
	if got, _ := schemas.StatusOfEvent(ev.Type); got != status || ev.Version != version {
		t.Fatalf("event %s v%d, want status %s v%d", ev.Type, ev.Version, status, version)
	}
	if st == nil || st.Status != status || st.Version != version {
		t.Fatalf("state %+v", st)
	}
	if got := cmdTypes(fx.Commands); got != commands {
		t.Fatalf("commands %q, want %q", got, commands)
	}
	if ev.Reason != reason || st.Reason != reason {
		t.Fatalf("reason %q / %q, want %q", ev.Reason, st.Reason, reason)
	}
	var lines []int
	for _, l := range ev.RejectedLines {
		lines = append(lines, l.LineNo)
	}
	if !equal(lines, rejectedLines) {
		t.Fatalf("rejected lines %v, want %v", lines, rejectedLines)
	}
	if status != schemas.StatusConfirmed {
		if ev.Total != nil || st.Total != nil {
			t.Fatal("a total on an order that was not confirmed")
		}
		return
	}
	if ev.Total == nil || ev.Total.Amount != total || st.Total == nil || st.Total.Amount != total || ev.Total.Currency != "USD" {
		t.Fatalf("total %+v / %+v, want %d USD", ev.Total, st.Total, total)
	}
	var sum int64
	for _, p := range ev.PricedLines {
		if p.LineTotal.Amount != p.UnitPrice.Amount*int64(p.Quantity) {
			t.Errorf("line %d: %d ≠ %d × %d", p.LineNo, p.LineTotal.Amount, p.UnitPrice.Amount, p.Quantity)
		}
		sum += p.LineTotal.Amount
	}
	if sum != total || len(st.PricedLines) != len(ev.PricedLines) {
		t.Fatalf("Σ line totals %d, total %d", sum, total)
	}
}

func TestAnswerRejectsWhatDoesNotFit(t *testing.T) {
	s := placed(t)
	cases := []struct {
		name string
		r    saga.Result
	}{
		{"no such line", reserved(4, "beans", 2, 1)},
		{"line 0", reserved(0, "beans", 2, 1)},
		{"another product", reserved(1, "grinder", 2, 1)},
		{"another quantity", reserved(1, "beans", 5, 1)},
		{"negative price", reserved(1, "beans", 2, -1)},
		{"rejected without reason", rejected(1, "beans", 2, "")},
	}
	for _, c := range cases {
		got, fx, err := s.Answer(c.r, t0)
		if !errors.Is(err, saga.ErrInvalid) || fx.Step != saga.Unchanged || got.Answers[0] != (saga.Answer{}) {
			t.Errorf("%s: err %v step %v", c.name, err, fx.Step)
		}
	}
}

func TestConfirmRefusesOverflow(t *testing.T) {
	s, _ := saga.Place(request(schemas.Line{ProductID: "gold", Quantity: 9999}), nil, t0, timeout)
	_, fx, err := s.Answer(reserved(1, "gold", 9999, 1<<62), t0)
	if !errors.Is(err, saga.ErrInvalid) || fx.Step != saga.Unchanged {
		t.Fatalf("err %v step %v", err, fx.Step)
	}
}

func TestAnswerDoesNotChangeTheCallersSaga(t *testing.T) {
	s := placed(t)
	next, _, err := s.Answer(reserved(1, "beans", 2, 5), t0)
	if err != nil || next.Answers[0].State != saga.LineReserved {
		t.Fatal(err)
	}
	if s.Answers[0].State != saga.LineWaiting {
		t.Fatal("Answer changed the saga it was called on")
	}
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
