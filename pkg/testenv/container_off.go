//go:build !testcontainers

package testenv

import "errors"

// sharedContainer is off in the default build: testcontainers (and the
// Docker client under it) is compiled in only with `-tags testcontainers`
// (decision 0026), so without KAFKA_BROKERS a test runs on kfake.
func sharedContainer() ([]string, error) {
	return nil, errors.New("built without -tags testcontainers")
}
