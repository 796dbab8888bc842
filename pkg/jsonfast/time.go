package jsonfast

import (
	"sync/atomic"
	"time"
)

// AppendRFC3339Nano appends t as t.AppendFormat(b, time.RFC3339Nano) does,
// without the layout interpreter for UTC times of years 0–9999 (the times
// the services write); other zones and years go to AppendFormat.
func AppendRFC3339Nano(b []byte, t time.Time) []byte {
	if t.Location() != time.UTC {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	hour, minute, sec := t.Clock()
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
}

// TimeCache formats times as AppendRFC3339Nano does and keeps the last one
// formatted: a stream processor reads the clock once per poll, so the
// records of a poll carry the same few instants. A miss costs two small
// allocations, so it pays only where one instant repeats. The zero value
// is ready; it is safe for concurrent use.
type TimeCache struct {
	last atomic.Pointer[formattedTime]
}

// formattedTime is a time and its RFC 3339 text.
type formattedTime struct {
	t    time.Time
	text []byte
}

// AppendRFC3339Nano appends t as the package's AppendRFC3339Nano does.
func (c *TimeCache) AppendRFC3339Nano(b []byte, t time.Time) []byte {
	// == rather than Equal: the same instant in another zone is other text.
	if last := c.last.Load(); last != nil && last.t == t { //nolint:staticcheck // QF1009: see above
		return append(b, last.text...)
	}
	start := len(b)
	b = AppendRFC3339Nano(b, t)
	c.last.Store(&formattedTime{t: t, text: append([]byte(nil), b[start:]...)})
	return b
}

// AppendTime appends t as the package's AppendTime does.
func (c *TimeCache) AppendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = c.AppendRFC3339Nano(b, t)
	return append(b, '"')
}

// AppendTimeField appends key and t as the package's AppendTimeField does.
func (c *TimeCache) AppendTimeField(b []byte, key string, t time.Time) []byte {
	return c.AppendTime(append(b, key...), t)
}
