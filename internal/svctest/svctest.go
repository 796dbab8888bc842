// Package svctest starts orderpipe services for tests: in this process
// through app.Run (Start), or as OS processes built from cmd/<name> that a
// test can kill -9 (Binary, Procs). It also applies the contract topics
// (ApplyTopics). Test code only: it reports through testing.TB.
package svctest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// Common is the app settings tests serve with: a loopback port the kernel
// picks, the usual timeouts and error-level logs. Callers change fields as
// their test needs.
func Common() app.Common {
	return app.Common{
		HTTP: config.HTTP{Addr: "127.0.0.1:0", ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, DrainTimeout: 5 * time.Second},
		Log: config.Log{Level: "error", Format: "text"},
	}
}

// StartTimeout and StopTimeout bound a service's start and stop.
const (
	StartTimeout = 60 * time.Second
	StopTimeout  = 30 * time.Second
)

// Service is one service run by Start.
type Service struct {
	URL string // http://host:port

	t       testing.TB
	name    string
	stop    context.CancelFunc
	stopped chan error
	once    sync.Once
}

// Start runs build as service name through app.Run (the real router,
// middleware and wiring, logs discarded) and waits until it serves. It fails
// t if the service does not start within StartTimeout; the service is
// stopped at cleanup (see Stop).
func Start(t testing.TB, name string, common app.Common, build app.Builder) *Service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{t: t, name: name, stop: cancel, stopped: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		s.stopped <- app.Run(ctx, name, common, build, app.Options{LogOutput: io.Discard, Ready: func(addr string) { ready <- addr }})
	}()
	select {
	case addr := <-ready:
		s.URL = "http://" + addr
	case err := <-s.stopped:
		cancel()
		t.Fatalf("%s did not start: %v", name, err)
	case <-time.After(StartTimeout):
		cancel()
		t.Fatalf("%s did not start in %s", name, StartTimeout)
	}
	t.Cleanup(s.Stop)
	return s
}

// Stop stops the service as SIGTERM would (drain, settle, close) and fails
// the test if it stops with an error or not within StopTimeout (then with
// this process's goroutines). Later calls do nothing.
func (s *Service) Stop() {
	s.once.Do(func() {
		s.stop()
		select {
		case err := <-s.stopped:
			if err != nil {
				s.t.Errorf("%s stopped with %v", s.name, err)
			}
		case <-time.After(StopTimeout):
			var b strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			s.t.Errorf("%s did not stop in %s; goroutines:\n%s", s.name, StopTimeout, b.String())
		}
	})
}

// ApplyTopics creates every contract topic of k (kafka.Spec) and returns
// their names.
func ApplyTopics(t testing.TB, k config.Kafka) kafka.Names {
	t.Helper()
	cl, err := kafka.NewClient(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kafka.Apply(ctx, cl, kafka.Spec(k, kafka.SpecOptions{}), io.Discard); err != nil {
		t.Fatalf("apply topics: %v", err)
	}
	return kafka.TopicNames(k.TopicPrefix)
}

// WaitReady waits until GET url answers 200 (a service's /health/ready),
// failing t with the last answer if within passes first.
func WaitReady(t testing.TB, url string, within time.Duration) {
	t.Helper()
	testenv.Eventually(t, within, url+" ready", func() error {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s %s", resp.Status, body)
		}
		return nil
	})
}
