package jsonfast

import (
	"strconv"
	"time"

	"github.com/orderpipe/orderpipe/schemas"
)

// The Append…Field functions append an object member: key is the text
// before the value — `{"name":` for the first member, `,"name":` for the
// others — and the value follows as its Append function writes it.

// AppendStringField appends key and s (see AppendString).
func AppendStringField(b []byte, key, s string) []byte {
	return AppendString(append(b, key...), s)
}

// AppendIntField appends key and n.
func AppendIntField(b []byte, key string, n int64) []byte {
	return strconv.AppendInt(append(b, key...), n, 10)
}

// AppendMoneyField appends key and m (see AppendMoney).
func AppendMoneyField(b []byte, key string, m schemas.Money) []byte {
	return AppendMoney(append(b, key...), m)
}

// AppendTimeField appends key and t (see AppendTime).
func AppendTimeField(b []byte, key string, t time.Time) []byte {
	return AppendTime(append(b, key...), t)
}

// AppendArray appends vs as a JSON array, each element written by elem.
func AppendArray[T any](b []byte, vs []T, elem func([]byte, T) []byte) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, v)
	}
	return append(b, ']')
}
