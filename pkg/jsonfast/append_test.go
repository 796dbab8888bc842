package jsonfast

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

// sameAsJSON fails unless got is what encoding/json writes for v.
func sameAsJSON(t *testing.T, got []byte, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Skip(err) // a value encoding/json refuses (a year beyond 9999)
	}
	if string(got) != string(want) {
		t.Fatalf("wrote\n%s\nencoding/json writes\n%s", got, want)
	}
}

var testStrings = []string{"", "plain", `quo"te\back`, "<tag>&amp;", "ctl\x00\x01\x1f\x7f\n\r\t\b\f", "üñí©ødé ✓",
	"bad\xff\xfeutf8", "line\u2028sep\u2029", "\xed\xa0\x80surrogate", "trunc\xe2\x82"}

func TestAppendString(t *testing.T) {
	for _, s := range testStrings {
		sameAsJSON(t, AppendString(nil, s), s)
		if got := AppendString([]byte("x"), s); string(got[1:]) != string(AppendString(nil, s)) || got[0] != 'x' {
			t.Errorf("%q: did not append", s)
		}
	}
}

func TestAppendMoney(t *testing.T) {
	for _, s := range testStrings {
		for _, n := range []int64{0, 1299, -5, 1 << 62} {
			m := schemas.Money{Amount: n, Currency: s}
			sameAsJSON(t, AppendMoney(nil, m), m)
		}
	}
}

// testTimes are edge cases and 2,000 pseudo-random instants.
func testTimes() []time.Time {
	times := []time.Time{
		{}, time.Unix(0, 0).UTC(), time.Date(2026, 11, 27, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 1, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", -3600)), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Now(), time.Now().UTC(),
	}
	seed := uint64(1)
	for range 2000 {
		seed = seed*6364136223846793005 + 1442695040888963407
		times = append(times, time.Unix(int64(seed>>34), int64(seed%1e9)).UTC())
	}
	return times
}

func TestAppendTime(t *testing.T) {
	for _, tm := range testTimes() {
		if got, want := string(AppendRFC3339Nano([]byte("x"), tm)), "x"+tm.Format(time.RFC3339Nano); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
		if tm.Year() >= 0 && tm.Year() <= 9999 {
			sameAsJSON(t, AppendTime(nil, tm), tm)
		}
	}
}

func TestTimeCache(t *testing.T) {
	var c TimeCache
	berlin := time.FixedZone("CET", 3600)
	for i, tm := range testTimes() {
		if i%3 == 0 {
			tm = tm.In(berlin) // the same instant in another zone must not reuse the cached text
		}
		for range 2 { // the second call is served from the cache
			if got, want := string(c.AppendRFC3339Nano([]byte("x"), tm)), "x"+tm.Format(time.RFC3339Nano); got != want {
				t.Fatalf("%v: %s, want %s", tm, got, want)
			}
			if got, want := string(c.AppendTime(nil, tm)), string(AppendTime(nil, tm)); got != want {
				t.Fatalf("%v: %s, want %s", tm, got, want)
			}
		}
	}
}

func TestAppendAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 256)
	at := time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)
	var c TimeCache
	if n := testing.AllocsPerRun(100, func() {
		b := AppendString(buf[:0], "bad\xff<tag>\u2028")
		b = AppendMoney(b, schemas.Money{Amount: 1299, Currency: "USD"})
		b = AppendTime(b, at)
		_ = c.AppendTime(b, at)
	}); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}
