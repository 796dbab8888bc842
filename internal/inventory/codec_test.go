package inventory

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderpipe/orderpipe/internal/inventory/domain"
	"github.com/orderpipe/orderpipe/schemas"
)

// The hand-written encoders must produce exactly what encoding/json does.
func TestEncodersMatchEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 30, 1, 123456789, time.UTC)
	price := schemas.Money{Amount: 1299, Currency: "USD"}
	for _, id := range []string{"plain", `quo"te`, "back\\slash", "tab\t", "ünï", "<b>&", string([]byte{0xff, 'x'}), ""} {
		results := []schemas.InventoryResult{
			{Type: schemas.ResultReserved, OrderID: id, LineNo: 3, ProductID: id, Quantity: 2, UnitPrice: &price, At: at},
			{Type: schemas.ResultRejected, OrderID: id, LineNo: 0, ProductID: "p", Quantity: 9, Reason: id, At: at.In(time.FixedZone("x", 3600))},
		}
		for _, v := range results {
			same(t, appendResult(nil, &v), v)
		}
		snap := schemas.StockSnapshot{ProductID: id, OnHand: 10, Reserved: -3, Available: 13, Version: 1 << 40, UpdatedAt: at}
		same(t, appendSnapshot(nil, &snap), snap)
		same(t, appendStock(nil, domain.Stock{OnHand: 1, Reserved: 2, Sold: 3, Adjusted: 4, Version: 5, UpdatedAt: at}),
			domain.Stock{OnHand: 1, Reserved: 2, Sold: 3, Adjusted: 4, Version: 5, UpdatedAt: at})
		line := domain.Line{Status: domain.LineRejected, Quantity: 4, UnitPrice: schemas.Money{Currency: id}, Reason: id, At: at, UpdatedAt: at.Add(time.Second)}
		same(t, appendLine(nil, line), line)
		line.Reason = ""
		same(t, appendLine(nil, line), line)
	}
	same(t, appendStock(nil, domain.Stock{}), domain.Stock{})
}

func same(t *testing.T, got []byte, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("encoder wrote\n%s\nencoding/json writes\n%s", got, want)
	}
}

func TestUUIDv5(t *testing.T) {
	for _, s := range []string{"", "result\x00o\x001", string(make([]byte, 300))} {
		if got, want := uuidV5(eventNamespace, []byte(s)), uuid.NewSHA1(eventNamespace, []byte(s)); got != want {
			t.Errorf("uuidV5(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestHexUUID(t *testing.T) {
	for _, s := range []string{"result\x00o\x001", "stock\x00p\x0042", ""} {
		id := uuid.NewSHA1(eventNamespace, []byte(s))
		buf := make([]byte, 36)
		hexUUID(buf, id)
		if string(buf) != id.String() {
			t.Errorf("hexUUID = %s, want %s", buf, id)
		}
	}
}

func TestAppendRFC3339Nano(t *testing.T) {
	times := []time.Time{
		{}, time.Unix(0, 0).UTC(), time.Date(2026, 11, 27, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 1, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", -3600)), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(), time.Now().UTC(),
	}
	seed := uint64(1)
	for i := 0; i < 2000; i++ {
		seed = seed*6364136223846793005 + 1442695040888963407
		times = append(times, time.Unix(int64(seed>>34), int64(seed%1e9)).UTC())
	}
	berlin := time.FixedZone("CET", 3600)
	for i, tm := range times {
		if i%3 == 0 {
			tm = tm.In(berlin) // the same instant in another zone must not reuse the cached text
		}
		for range 2 { // the second call is served from the last-formatted cache
			if got, want := string(appendRFC3339Nano([]byte("x"), tm)), "x"+tm.Format(time.RFC3339Nano); got != want {
				t.Fatalf("%v: %s, want %s", tm, got, want)
			}
		}
	}
}
