package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/orderpipe/orderpipe/internal/catalog"
	"github.com/orderpipe/orderpipe/pkg/config"
)

func runCatalog(ctx context.Context, args []string, out io.Writer) error {
	usage := fmt.Errorf("%w: orderpipe catalog import [flags] FILE | orderpipe catalog rebuild [flags]", ErrUsage)
	if len(args) == 0 {
		return usage
	}
	switch args[0] {
	case "import":
		return runCatalogImport(ctx, args[1:], out)
	case "rebuild":
		return runCatalogRebuild(ctx, args[1:], out)
	}
	return usage
}

// runCatalogImport is `orderpipe catalog import FILE`: products from JSON
// Lines or CSV to catalog.products.v1 (and stock to inventory.commands.v1),
// with a progress bar and a summary; bad lines are listed, not fatal.
func runCatalogImport(ctx context.Context, args []string, out io.Writer) error {
	var kc config.Kafka
	var format string
	s := config.NewSet("orderpipe catalog import", nil)
	kc.Register(s)
	s.String(&format, "CATALOG_IMPORT_FORMAT", "format", "auto", "file format: jsonl, csv, or auto (from the extension)")
	path, flags, ok := fileArg(args)
	if !ok {
		return fmt.Errorf("%w: orderpipe catalog import FILE [flags] (JSON Lines or CSV)", ErrUsage)
	}
	if err := s.Parse(flags); err != nil {
		s.Usage(out)
		return err
	}
	if err := kc.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if format == "auto" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			format = catalog.FormatCSV
		case ".jsonl", ".ndjson", ".json":
			format = catalog.FormatJSONL
		default:
			return fmt.Errorf("%w: cannot tell the format of %s from its extension: give -format jsonl or -format csv", ErrUsage, path)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	counted := &countingReader{r: f}
	bar := newProgressBar(out, info.Size())
	sum, err := catalog.Import(ctx, kc, counted, catalog.ImportOptions{
		Format: format, Source: filepath.Base(path),
		Progress: func(p catalog.ImportProgress) { bar.update(counted.n.Load(), p) },
	})
	bar.done()
	printImportSummary(out, path, sum)
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	return nil
}

// fileArg splits the FILE argument from the flags: FILE comes first or last.
func fileArg(args []string) (string, []string, bool) {
	switch {
	case len(args) == 0:
		return "", nil, false
	case !strings.HasPrefix(args[0], "-"):
		return args[0], args[1:], true
	case !strings.HasPrefix(args[len(args)-1], "-"):
		return args[len(args)-1], args[:len(args)-1], true
	}
	return "", nil, false
}

func printImportSummary(out io.Writer, path string, sum catalog.ImportSummary) {
	fmt.Fprintf(out, "import %s: %d lines read, %d products and %d stock adjustments written, %d bad lines, %d not accepted by Kafka, in %s",
		path, sum.Lines, sum.Products, sum.Adjustments, len(sum.Bad), sum.Failed, sum.Elapsed.Round(time.Millisecond))
	if secs := sum.Elapsed.Seconds(); secs > 0 && sum.Products > 0 {
		fmt.Fprintf(out, " (%.0f products/s)", float64(sum.Products)/secs)
	}
	fmt.Fprintln(out)
	const shown = 20
	for i, b := range sum.Bad {
		if i == shown {
			fmt.Fprintf(out, "  … and %d more bad lines\n", len(sum.Bad)-shown)
			break
		}
		fmt.Fprintf(out, "  line %d: %s\n", b.Line, b.Reason)
	}
}

// runCatalogRebuild is `orderpipe catalog rebuild`: the Redis projection
// from scratch, replayed from the topics.
func runCatalogRebuild(ctx context.Context, args []string, out io.Writer) error {
	var kc config.Kafka
	var rc config.Redis
	s := config.NewSet("orderpipe catalog rebuild", nil)
	kc.Register(s)
	rc.Register(s)
	if err := s.Parse(args); err != nil {
		s.Usage(out)
		return err
	}
	if err := errors.Join(kc.Validate(), rc.Validate()); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	st, err := catalog.Rebuild(ctx, kc, rc, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "rebuild: done: %d product records and %d stock snapshots replayed, %d undecodable skipped, in %s\n",
		st.Products, st.Stock, st.Skipped, st.Elapsed.Round(time.Millisecond))
	return nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// progressBar draws "[#####.....] 42% 1234 lines" on a terminal (redrawn in
// place) or prints a line every 10% elsewhere.
type progressBar struct {
	out      io.Writer
	total    int64
	tty      bool
	lastPct  int
	drawn    bool
	lastDraw time.Time
}

func newProgressBar(out io.Writer, total int64) *progressBar {
	tty := false
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{out: out, total: total, tty: tty, lastPct: -1}
}

func (b *progressBar) update(read int64, p catalog.ImportProgress) {
	pct := 100
	if b.total > 0 {
		pct = int(min(read*100/b.total, 100))
	}
	if b.tty {
		if time.Since(b.lastDraw) < 100*time.Millisecond && pct != 100 {
			return
		}
		const width = 30
		fill := pct * width / 100
		fmt.Fprintf(b.out, "\r[%s%s] %3d%%  %d lines, %d written, %d bad", strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct, p.Lines, p.Produced, p.Bad)
		b.drawn, b.lastDraw = true, time.Now()
		return
	}
	if pct/10 != b.lastPct/10 {
		b.lastPct = pct
		fmt.Fprintf(b.out, "import: %3d%%  %d lines, %d written, %d bad\n", pct, p.Lines, p.Produced, p.Bad)
	}
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.out)
	}
}
