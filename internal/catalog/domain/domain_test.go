package domain

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

func TestCursorRoundTripAndTamper(t *testing.T) {
	c := NewCursors([]byte("k1"))
	yes := true
	q := Query{CategoryID: "kitchen", IsAvailable: &yes, Terms: []string{"red"}}
	tok := c.Encode(q.Filter(), "prod-00042")
	got, err := c.Decode(q.Filter(), tok)
	if err != nil || got != "prod-00042" {
		t.Fatalf("round trip: %q %v", got, err)
	}
	other := q
	other.CategoryID = "garden"
	no := false
	unavailable := q
	unavailable.IsAvailable = &no
	bad := []struct {
		name   string
		filter uint64
		token  string
	}{
		{"other category", other.Filter(), tok},
		{"other availability", unavailable.Filter(), tok},
		{"other key", q.Filter(), NewCursors([]byte("k2")).Encode(q.Filter(), "prod-00042")},
		{"garbage", q.Filter(), "not-a-cursor"},
		{"empty", q.Filter(), ""},
		{"too long", q.Filter(), strings.Repeat("A", 600)},
		{"truncated", q.Filter(), tok[:len(tok)-2]},
	}
	for i := range len(tok) {
		b := []byte(tok)
		b[i] ^= 0x01
		bad = append(bad, struct {
			name   string
			filter uint64
			token  string
		}{"flipped bit", q.Filter(), string(b)})
	}
	for _, b := range bad {
		if id, err := c.Decode(b.filter, b.token); err == nil {
			t.Errorf("%s: decoded %q, want ErrBadCursor", b.name, id)
		}
	}
	// Page size is not part of the binding.
	q2 := q
	q2.PageSize = 7
	if q.Filter() != q2.Filter() {
		t.Error("page size changes the filter hash")
	}
}

func FuzzCursorDecode(f *testing.F) {
	c := NewCursors([]byte("k"))
	f.Add(c.Encode(1, "p-1"))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := c.Decode(1, tok)
		if err == nil && c.Encode(1, id) != tok {
			t.Fatalf("accepted a token it would not issue: %q", tok)
		}
	})
}

func TestSearch(t *testing.T) {
	if got := Terms("Red  Shoes, red-SHOES 42"); !slices.Equal(got, []string{"red", "shoes", "42"}) {
		t.Fatalf("Terms: %q", got)
	}
	px := IndexPrefixes("Épée Kettle")
	for _, want := range []string{"ép", "épée", "ke", "kettle"} {
		if !slices.Contains(px, want) {
			t.Errorf("prefix %q missing from %q", want, px)
		}
	}
	if slices.Contains(px, "k") || slices.Contains(px, "é") {
		t.Errorf("one-rune prefixes indexed: %q", px)
	}
	long := IndexPrefixes("Supercalifragilistic")
	if len(long) != MaxPrefix-MinPrefix+1 {
		t.Errorf("prefixes of a long word: %d", len(long))
	}
	cases := []struct {
		name  string
		query []string
		want  bool
	}{
		{"Red Shoes", []string{"red", "sho"}, true},
		{"Red Shoes", []string{"sho"}, true},
		{"Red Shoes", []string{"hoes"}, false},
		{"Red Shoes", []string{"red", "boots"}, false},
		{"Red Shoes", nil, true},
		{"Supercalifragilistic", []string{"supercalifragilistic"}, true},
	}
	for _, c := range cases {
		if got := Matches(c.name, c.query); got != c.want {
			t.Errorf("Matches(%q, %q) = %v", c.name, c.query, got)
		}
	}
	if IndexKey("supercalifragilistic") != "supercalifr"+"a" || IndexKey("a") != "" {
		t.Errorf("IndexKey: %q %q", IndexKey("supercalifragilistic"), IndexKey("a"))
	}
}

func TestCompose(t *testing.T) {
	p := schemas.Product{ProductID: "p", Name: "n", CategoryID: "c", Price: schemas.Money{Amount: 100, Currency: "USD"}, Active: true, Version: 3}
	cases := []struct {
		stock  *Stock
		active bool
		want   Availability
	}{
		{nil, true, Availability{Status: OutOfStock}},
		{&Stock{Available: 0}, true, Availability{Status: OutOfStock}},
		{&Stock{Available: -2}, true, Availability{Status: OutOfStock}},
		{&Stock{Available: 5}, true, Availability{Status: LowStockSt, IsAvailable: true, AvailableQuantity: 5}},
		{&Stock{Available: 6}, true, Availability{Status: InStock, IsAvailable: true, AvailableQuantity: 6}},
		{&Stock{Available: 6}, false, Availability{Status: OutOfStock}},
	}
	for _, c := range cases {
		p.Active = c.active
		if v := Compose(p, c.stock); v.Availability != c.want || v.Version != 3 {
			t.Errorf("Compose(active=%v, %+v) = %+v", c.active, c.stock, v.Availability)
		}
	}
}

func TestValidateProduct(t *testing.T) {
	isCur := func(c string) bool { return c == "USD" }
	ok := schemas.Product{ProductID: "p-1", Name: "Kettle", CategoryID: "kitchen", Price: schemas.Money{Amount: 0, Currency: "USD"}}
	if errs := ValidateProduct(ok, isCur); len(errs) != 0 {
		t.Fatalf("valid product: %v", errs)
	}
	bad := schemas.Product{ProductID: "p 1", Name: " ", CategoryID: "", Price: schemas.Money{Amount: -1, Currency: "usd"}, SKU: strings.Repeat("s", 65)}
	errs := ValidateProduct(bad, isCur)
	fields := map[string]bool{}
	for _, e := range errs {
		fields[e.Field] = true
	}
	for _, f := range []string{"productId", "categoryId", "name", "sku", "price.amount", "price.currency"} {
		if !fields[f] {
			t.Errorf("no error for %s in %v", f, errs)
		}
	}
}

func TestNextVersionGrows(t *testing.T) {
	now := time.UnixMicro(1_000_000)
	if NextVersion(now, 0) != 1_000_000 || NextVersion(now, 5_000_000) != 5_000_001 {
		t.Fatal("NextVersion must be max(clock, current+1)")
	}
}

func TestCartRules(t *testing.T) {
	c := Cart{Items: map[string]int{"b": 2, "a": 1, "c": 3}}
	if got := c.Lines(); got[0].ProductID != "a" || got[2].ProductID != "c" {
		t.Fatalf("lines are ordered by product id: %+v", got)
	}
	v := View{IsActive: true, Availability: AvailabilityOf(true, 3)}
	for q, ok := range map[int]bool{0: false, 1: true, 3: true, 4: false, 10000: false} {
		if got := CheckQuantity(q, v) == ""; got != ok {
			t.Errorf("CheckQuantity(%d) ok=%v", q, got)
		}
	}
}
