//go:build testcontainers

package testenv

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
)

// The Docker client behind testcontainers is built only with
// `-tags testcontainers` (decision 0026): the default build, and so
// govulncheck's view of it, carries no Docker code.

var (
	containerOnce    sync.Once
	containerBrokers []string
	containerErr     error
)

// sharedContainer starts one Kafka container per test process when a Docker
// engine answers. It stays up until the process exits (testcontainers' reaper
// removes it).
func sharedContainer() ([]string, error) {
	containerOnce.Do(func() {
		if !dockerReachable() {
			containerErr = errors.New("no Docker engine")
			return
		}
		// testcontainers panics on some Docker host set-ups it cannot parse.
		defer func() {
			if p := recover(); p != nil {
				containerErr = fmt.Errorf("testcontainers: %v", p)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p, err := testcontainers.NewDockerProvider()
		if err == nil {
			err = p.Health(ctx)
			_ = p.Close()
		}
		if err != nil {
			containerErr = err
			return
		}
		startCtx, cancelStart := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancelStart()
		c, err := tckafka.Run(startCtx, "confluentinc/confluent-local:7.5.0", tckafka.WithClusterID("orderpipe-test"))
		if err != nil {
			containerErr = err
			return
		}
		containerBrokers, containerErr = c.Brokers(startCtx)
	})
	return containerBrokers, containerErr
}
