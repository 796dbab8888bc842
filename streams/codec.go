package streams

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Codec turns a store's values into changelog bytes and back. Every value
// written carries the codec's Version; a reader accepts Version and
// Version-1, so a rolling upgrade that changes a value's shape can read what
// the previous release wrote (and a release that meets a value newer than it
// understands stops instead of guessing).
type Codec[V any] struct {
	// Version is the version written, 1..255.
	Version uint8
	// Encode appends v's encoding to dst.
	Encode func(dst []byte, v V) ([]byte, error)
	// Decode decodes data written with version (Version or Version-1).
	Decode func(version uint8, data []byte) (V, error)
}

// ErrUnknownVersion is returned when a changelog value has a version the
// codec does not read.
var ErrUnknownVersion = errors.New("unknown value version")

// JSON returns a codec that writes V as JSON under version and reads
// versions version and version-1 with the same Go type (fields added in
// version are zero when reading version-1 values).
func JSON[V any](version uint8) Codec[V] {
	return Codec[V]{
		Version: version,
		Encode: func(dst []byte, v V) ([]byte, error) {
			b, err := json.Marshal(v)
			if err != nil {
				return dst, err
			}
			return append(dst, b...), nil
		},
		Decode: func(_ uint8, data []byte) (V, error) {
			var v V
			err := json.Unmarshal(data, &v)
			return v, err
		},
	}
}

// appendValue appends [version][payload] to dst.
func (c Codec[V]) appendValue(dst []byte, v V) ([]byte, error) {
	return c.Encode(append(dst, c.Version), v)
}

// decodeValue reads [version][payload], accepting Version and Version-1.
func (c Codec[V]) decodeValue(b []byte) (V, error) {
	var zero V
	if len(b) < 1 {
		return zero, fmt.Errorf("%w: empty value", ErrUnknownVersion)
	}
	v := b[0]
	if v != c.Version && (c.Version == 1 || v != c.Version-1) {
		return zero, fmt.Errorf("%w %d (this release reads %d and %d)", ErrUnknownVersion, v, c.Version, c.Version-1)
	}
	return c.Decode(v, b[1:])
}

func (c Codec[V]) validate() error {
	if c.Version == 0 || c.Encode == nil || c.Decode == nil {
		return errors.New("codec needs Version ≥ 1, Encode and Decode")
	}
	return nil
}
