package jsonfast

import "encoding/json"

// Decode returns what fast decodes from data when fast reports true, and
// otherwise what encoding/json decodes: fast must decode a subset of the
// documents to exactly what encoding/json would (a differential fuzz test
// against encoding/json is how its package shows it).
func Decode[T any](data []byte, fast func([]byte) (T, bool)) (T, error) {
	if v, ok := fast(data); ok {
		return v, nil
	}
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}
