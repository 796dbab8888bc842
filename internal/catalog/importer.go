package catalog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderpipe/orderpipe/internal/catalog/domain"
	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/schemas"
)

// Import formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// ImportItem is one product read from an import file, with its initial
// stock when the file gives one.
type ImportItem struct {
	Line    int
	Product schemas.Product
	Stock   *int64
}

// LineError is a line of an import file that could not be used.
type LineError struct {
	Line   int
	Reason string
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// importRow is a JSON Lines record (and, column by column, a CSV row).
type importRow struct {
	ProductID   string         `json:"productId"`
	ID          string         `json:"id"` // alias of productId
	SKU         string         `json:"sku"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	CategoryID  string         `json:"categoryId"`
	Price       *schemas.Money `json:"price"`
	IsActive    *bool          `json:"isActive"`
	Active      *bool          `json:"active"` // alias of isActive
	Stock       *int64         `json:"stock"`
}

func (r importRow) item(line int) (ImportItem, error) {
	p := schemas.Product{ProductID: r.ProductID, SKU: r.SKU, Name: r.Name, Description: r.Description, CategoryID: r.CategoryID, Active: true}
	if p.ProductID == "" {
		p.ProductID = r.ID
	}
	if r.Price != nil {
		p.Price = *r.Price
		p.Price.Currency = upper(p.Price.Currency)
	}
	if r.IsActive != nil {
		p.Active = *r.IsActive
	} else if r.Active != nil {
		p.Active = *r.Active
	}
	if errs := domain.ValidateProduct(p, intake.IsCurrency); len(errs) > 0 {
		return ImportItem{}, LineError{line, (&InvalidError{errs}).Error()}
	}
	if r.Stock != nil && (*r.Stock < 0 || *r.Stock > maxAdjust) {
		return ImportItem{}, LineError{line, fmt.Sprintf("stock must be between 0 and %d", maxAdjust)}
	}
	return ImportItem{Line: line, Product: p, Stock: r.Stock}, nil
}

// ReadImport reads products from r (JSON Lines or CSV with a header row)
// and calls fn for each good line and each bad one (with a LineError). It
// stops at the first error fn returns or at a read error.
func ReadImport(r io.Reader, format string, fn func(ImportItem, error) error) error {
	switch format {
	case FormatJSONL:
		return readJSONL(r, fn)
	case FormatCSV:
		return readCSV(r, fn)
	}
	return fmt.Errorf("unknown import format %q: want jsonl or csv", format)
}

func readJSONL(r io.Reader, fn func(ImportItem, error) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		var row importRow
		var err error
		if e := json.Unmarshal(b, &row); e != nil {
			err = LineError{line, "not a JSON product object: " + e.Error()}
		}
		var it ImportItem
		if err == nil {
			it, err = row.item(line)
		}
		if err := fn(it, err); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

// CSV columns (header names, case-insensitive; unknown columns are ignored).
var csvColumns = map[string]string{
	"productid": "productId", "id": "productId", "sku": "sku", "name": "name", "description": "description",
	"categoryid": "categoryId", "priceamount": "priceAmount", "price": "priceAmount", "currency": "currency",
	"isactive": "isActive", "active": "isActive", "stock": "stock",
}

func readCSV(r io.Reader, fn func(ImportItem, error) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		if name, ok := csvColumns[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))]; ok {
			col[name] = i
		}
	}
	for _, need := range []string{"productId", "name", "categoryId", "priceAmount", "currency"} {
		if _, ok := col[need]; !ok {
			return fmt.Errorf("CSV header %q: missing column %s", strings.Join(header, ","), need)
		}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line, _ := cr.FieldPos(0)
		var it ImportItem
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return err
			}
			err = LineError{pe.Line, pe.Err.Error()}
		} else {
			it, err = csvItem(rec, col, line)
		}
		if err := fn(it, err); err != nil {
			return err
		}
	}
}

func csvItem(rec []string, col map[string]int, line int) (ImportItem, error) {
	get := func(name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	row := importRow{ProductID: get("productId"), SKU: get("sku"), Name: get("name"), Description: get("description"), CategoryID: get("categoryId")}
	amount, err := strconv.ParseInt(get("priceAmount"), 10, 64)
	if err != nil {
		return ImportItem{}, LineError{line, "priceAmount must be an integer number of minor units (e.g. 1999 for 19.99 USD)"}
	}
	row.Price = &schemas.Money{Amount: amount, Currency: get("currency")}
	if a := get("isActive"); a != "" {
		b, err := strconv.ParseBool(a)
		if err != nil {
			return ImportItem{}, LineError{line, "isActive must be true or false"}
		}
		row.IsActive = &b
	}
	if s := get("stock"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return ImportItem{}, LineError{line, "stock must be an integer"}
		}
		row.Stock = &n
	}
	return row.item(line)
}

// ImportProgress is reported while an import runs.
type ImportProgress struct {
	Lines, Produced, Bad int
}

// ImportSummary sums up an import.
type ImportSummary struct {
	Lines       int         // records read (good and bad)
	Products    int         // product records acknowledged by Kafka
	Adjustments int         // stock adjustments acknowledged
	Failed      int         // records Kafka did not accept
	Bad         []LineError // lines that could not be used (all of them)
	Elapsed     time.Duration
}

// ImportOptions tune an import.
type ImportOptions struct {
	Format string
	// Source names the file, for the adjustments' ids: importing the same
	// file again does not change stock twice.
	Source   string
	Progress func(ImportProgress)
	Now      func() time.Time
}

// Import produces the products of r to catalog.products.v1 (and, where a
// line gives stock, an absolute Adjust to inventory.commands.v1). Bad lines
// are collected, not fatal. Versions grow with the line number, so a
// product listed twice ends at its last line.
func Import(ctx context.Context, kc config.Kafka, r io.Reader, opts ImportOptions) (ImportSummary, error) {
	start := time.Now()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cl, err := kafka.NewProducer(kc, nil, kgo.MaxBufferedRecords(50000))
	if err != nil {
		return ImportSummary{}, err
	}
	defer cl.Close()
	sum, err := produceItems(ctx, cl, NewRecords(kc.TopicPrefix), func(fn func(ImportItem, error) error) error {
		return ReadImport(r, opts.Format, fn)
	}, opts)
	sum.Elapsed = time.Since(start)
	return sum, err
}

// produceItems produces what each() yields and waits for every ack.
func produceItems(ctx context.Context, cl *kgo.Client, rb Records, each func(func(ImportItem, error) error) error, opts ImportOptions) (ImportSummary, error) {
	var sum ImportSummary
	var products, adjustments, failed atomic.Int64
	var firstErr error
	var mu sync.Mutex
	base := opts.Now().UnixMicro()
	done := func(counter *atomic.Int64) func(*kgo.Record, error) {
		return func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			counter.Add(1)
		}
	}
	lastReport := time.Now()
	report := func() {
		if opts.Progress != nil {
			opts.Progress(ImportProgress{Lines: sum.Lines, Produced: int(products.Load() + adjustments.Load()), Bad: len(sum.Bad)})
		}
	}
	err := each(func(it ImportItem, lineErr error) error {
		sum.Lines++
		if lineErr != nil {
			var le LineError
			if !errors.As(lineErr, &le) {
				le = LineError{it.Line, lineErr.Error()}
			}
			sum.Bad = append(sum.Bad, le)
			return nil
		}
		p := it.Product
		p.Version = base + int64(it.Line)
		p.UpdatedAt = opts.Now().UTC()
		rec, err := rb.Product(ctx, p)
		if err != nil {
			sum.Bad = append(sum.Bad, LineError{it.Line, err.Error()})
			return nil
		}
		cl.Produce(ctx, rec, done(&products))
		if it.Stock != nil {
			adj, err := rb.Adjust(ctx, schemas.InventoryCommand{ProductID: p.ProductID, AdjustmentID: importAdjustmentID(opts.Source, p.ProductID, *it.Stock),
				Absolute: it.Stock, Reason: "import " + opts.Source})
			if err != nil {
				sum.Bad = append(sum.Bad, LineError{it.Line, err.Error()})
				return nil
			}
			cl.Produce(ctx, adj, done(&adjustments))
		}
		if time.Since(lastReport) >= 100*time.Millisecond {
			report()
			lastReport = time.Now()
		}
		return ctx.Err()
	})
	if ferr := cl.Flush(ctx); err == nil {
		err = ferr
	}
	sum.Products, sum.Adjustments, sum.Failed = int(products.Load()), int(adjustments.Load()), int(failed.Load())
	report()
	if err == nil && firstErr != nil {
		err = fmt.Errorf("%d records not accepted by Kafka, first: %w", sum.Failed, firstErr)
	}
	return sum, err
}

// importAdjustmentID names the stock set of one line of one file: the same
// file imported twice sets stock once.
func importAdjustmentID(source, productID string, stock int64) string {
	h := sha256.Sum256([]byte(source + "\x00" + productID + "\x00" + strconv.FormatInt(stock, 10)))
	return "import-" + hex.EncodeToString(h[:8])
}
