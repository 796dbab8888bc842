package catalog

import (
	"errors"
	"strings"
	"testing"

	"github.com/orderpipe/orderpipe/internal/catalog/domain"
	"github.com/orderpipe/orderpipe/internal/intake"
)

func readItems(t *testing.T, format, in string) ([]ImportItem, []LineError) {
	t.Helper()
	var items []ImportItem
	var bad []LineError
	err := ReadImport(strings.NewReader(in), format, func(it ImportItem, err error) error {
		if err != nil {
			var le LineError
			if !errors.As(err, &le) {
				t.Fatalf("not a LineError: %v", err)
			}
			bad = append(bad, le)
			return nil
		}
		items = append(items, it)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return items, bad
}

func TestReadJSONLines(t *testing.T) {
	in := `{"productId":"p-1","name":"Kettle","categoryId":"kitchen","price":{"amount":2999,"currency":"usd"},"stock":12,"extra":true}
# a comment

{"id":"p-2","name":"Rake","categoryId":"garden","price":{"amount":1500,"currency":"EUR"},"active":false}
{"productId":"p-3","name":"","categoryId":"garden","price":{"amount":1,"currency":"USD"}}
{"productId":"p-4","name":"Float","categoryId":"garden","price":{"amount":1.5,"currency":"USD"}}
not json
{"productId":"p-5","name":"Neg","categoryId":"garden","price":{"amount":1,"currency":"USD"},"stock":-1}
{"productId":"p 6","name":"Space","categoryId":"garden","price":{"amount":1,"currency":"ZZZ"}}
`
	items, bad := readItems(t, FormatJSONL, in)
	if len(items) != 2 || items[0].Product.Price.Currency != "USD" || *items[0].Stock != 12 || !items[0].Product.Active ||
		items[1].Product.ProductID != "p-2" || items[1].Product.Active || items[1].Stock != nil || items[1].Line != 4 {
		t.Fatalf("items: %+v", items)
	}
	wantLines := []int{5, 6, 7, 8, 9}
	if len(bad) != len(wantLines) {
		t.Fatalf("bad lines: %+v", bad)
	}
	for i, b := range bad {
		if b.Line != wantLines[i] || b.Reason == "" {
			t.Errorf("bad line %d: %+v, want line %d", i, b, wantLines[i])
		}
	}
	if !strings.Contains(bad[4].Reason, "productId") || !strings.Contains(bad[4].Reason, "1 more") {
		t.Errorf("every problem of a line is counted: %q", bad[4].Reason)
	}
}

func TestReadCSV(t *testing.T) {
	in := "\ufeffProductId,Name,CategoryId,PriceAmount,Currency,Stock,Notes\n" +
		"p-1,\"Kettle, steel\",kitchen,2999,USD,5,x\n" +
		"p-2,Rake,garden,15.00,USD,,\n" +
		"p-3,Hose,garden,1200,USD,many,\n" +
		"p-4,Mug,kitchen,500,usd,,\n"
	items, bad := readItems(t, FormatCSV, in)
	if len(items) != 2 || items[0].Product.Name != "Kettle, steel" || *items[0].Stock != 5 || items[1].Product.ProductID != "p-4" || items[1].Stock != nil {
		t.Fatalf("items: %+v", items)
	}
	if len(bad) != 2 || bad[0].Line != 3 || !strings.Contains(bad[0].Reason, "minor units") || bad[1].Line != 4 {
		t.Fatalf("bad: %+v", bad)
	}
	err := ReadImport(strings.NewReader("id,name\np,q\n"), FormatCSV, func(ImportItem, error) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "missing column") {
		t.Fatalf("a header without required columns must fail the import: %v", err)
	}
}

func TestDemoCatalog(t *testing.T) {
	a, b := DemoCatalog(DemoProducts), DemoCatalog(DemoProducts)
	scarce, out := 0, 0
	for i := range a {
		if a[i].Product != b[i].Product || *a[i].Stock != *b[i].Stock {
			t.Fatal("the demo catalog is not deterministic")
		}
		if errs := domain.ValidateProduct(a[i].Product, intake.IsCurrency); len(errs) > 0 {
			t.Fatalf("demo product %s: %v", a[i].Product.ProductID, errs)
		}
		switch s := *a[i].Stock; {
		case s == 0:
			out++
		case s <= 5:
			scarce++
		}
	}
	if scarce < 50 || out < 10 {
		t.Fatalf("%d scarce, %d sold out: want some of each", scarce, out)
	}
}
