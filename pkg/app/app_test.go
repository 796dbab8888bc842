package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/orderpipe/orderpipe/pkg/app"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/problem"
)

type fakeService struct {
	depErr  atomic.Pointer[error]
	release chan struct{}
	closed  atomic.Bool
	served  atomic.Int32
}

func (f *fakeService) Routes(r *mux.Router) {
	r.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		<-f.release
		f.served.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}).Methods(http.MethodPost)
	r.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
}
func (f *fakeService) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (f *fakeService) Close(context.Context) error   { f.closed.Store(true); return nil }

func common(t *testing.T) app.Common {
	t.Helper()
	var c app.Common
	var none noConfig
	err := app.Load("test", "127.0.0.1:0", nil, func(k string) (string, bool) {
		if k == "LOG_LEVEL" {
			return "error", true
		}
		return "", false
	}, &c, &none)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type noConfig struct{}

func (noConfig) Register(*config.Set) {}
func (noConfig) Validate() error      { return nil }

func start(t *testing.T, svc *fakeService) (base string, cancel func(), done chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done = make(chan error, 1)
	go func() {
		done <- app.Run(ctx, "test", common(t), func(_ context.Context, env *app.Env) (app.Service, error) {
			env.Health.Add("dep", func(context.Context) error {
				if p := svc.depErr.Load(); p != nil {
					return *p
				}
				return nil
			})
			return svc, nil
		}, app.Options{LogOutput: io.Discard, Ready: func(a string) { addr <- a }})
	}()
	select {
	case a := <-addr:
		return "http://" + a, cancel, done
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("service did not start")
	}
	return "", cancel, done
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestProbesReflectDependencies(t *testing.T) {
	svc := &fakeService{release: make(chan struct{})}
	base, cancel, done := start(t, svc)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	for _, p := range []string{"/health/live", "/health/startup", "/health/ready"} {
		if code, body, _ := get(t, base+p); code != http.StatusOK {
			t.Errorf("%s = %d %s", p, code, body)
		}
	}
	down := errors.New("connection refused")
	svc.depErr.Store(&down)
	code, body, hdr := get(t, base+"/health/ready")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "connection refused") || hdr.Get("Retry-After") == "" {
		t.Errorf("ready with a dead dependency = %d %s (Retry-After %q)", code, body, hdr.Get("Retry-After"))
	}
	if code, _, _ := get(t, base+"/health/live"); code != http.StatusOK {
		t.Errorf("live must not depend on dependencies, got %d", code)
	}
	if code, body, _ := get(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "orderpipe_http_requests_total") {
		t.Errorf("/metrics = %d, missing request metrics", code)
	}
}

func TestErrorsAreProblems(t *testing.T) {
	svc := &fakeService{release: make(chan struct{})}
	base, cancel, done := start(t, svc)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	for path, want := range map[string]int{"/nope": 404, "/panic": 500, "/slow": 405} {
		code, body, hdr := get(t, base+path)
		if code != want || hdr.Get("Content-Type") != problem.ContentType {
			t.Errorf("GET %s = %d %s, want %d problem+json", path, code, hdr.Get("Content-Type"), want)
			continue
		}
		var p problem.Problem
		if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != want || p.Title == "" {
			t.Errorf("GET %s body %s is not a problem document", path, body)
		}
	}
}

// TestShutdownDrainsInFlightRequests: cancelling the context (SIGTERM) lets
// a request in flight finish before Run returns, then closes the service.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	svc := &fakeService{release: make(chan struct{})}
	base, cancel, done := start(t, svc)
	status := make(chan int, 1)
	go func() {
		resp, err := http.Post(base+"/slow", "text/plain", nil)
		if err != nil {
			status <- 0
			return
		}
		_ = resp.Body.Close()
		status <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // let the request reach the handler
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(svc.release)
	if got := <-status; got != http.StatusAccepted {
		t.Fatalf("in-flight request got %d, want 202", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !svc.closed.Load() {
		t.Error("Close was not called")
	}
}
