// Package health serves the three probes every service exposes:
// /health/live (the process is not wedged), /health/startup (the service
// finished starting) and /health/ready (its real dependencies answer).
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
)

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// Registry holds readiness checks and the startup flag.
type Registry struct {
	mu       sync.RWMutex
	checks   map[string]Check
	started  atomic.Bool
	draining atomic.Bool
	timeout  time.Duration
}

// NewRegistry returns an empty registry; each check gets timeout.
func NewRegistry(timeout time.Duration) *Registry {
	return &Registry{checks: map[string]Check{}, timeout: timeout}
}

// Add registers a readiness check under name.
func (r *Registry) Add(name string, c Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[name] = c
}

// Started marks startup complete.
func (r *Registry) Started() { r.started.Store(true) }

// Draining makes readiness fail so load balancers stop sending traffic
// while in-flight work finishes.
func (r *Registry) Draining() { r.draining.Store(true) }

type report struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// Ready runs every check concurrently and returns the failures by name.
func (r *Registry) Ready(ctx context.Context) map[string]string {
	r.mu.RLock()
	checks := make(map[string]Check, len(r.checks))
	for k, v := range r.checks {
		checks[k] = v
	}
	r.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	results := make(map[string]string, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status := "ok"
			if err := c(ctx); err != nil {
				status = err.Error()
			}
			mu.Lock()
			results[name] = status
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

// Routes registers the probe handlers on mux.
func (r *Registry) Routes(router *mux.Router) {
	router.Handle("/health/live", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		write(w, http.StatusOK, report{Status: "ok"})
	}))
	router.Handle("/health/startup", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !r.started.Load() {
			write(w, http.StatusServiceUnavailable, report{Status: "starting"})
			return
		}
		write(w, http.StatusOK, report{Status: "ok"})
	}))
	router.Handle("/health/ready", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case r.draining.Load():
			write(w, http.StatusServiceUnavailable, report{Status: "draining"})
			return
		case !r.started.Load():
			write(w, http.StatusServiceUnavailable, report{Status: "starting"})
			return
		}
		results := r.Ready(req.Context())
		status, code := "ok", http.StatusOK
		for _, v := range results {
			if v != "ok" {
				status, code = "unavailable", http.StatusServiceUnavailable
			}
		}
		write(w, code, report{Status: status, Checks: results})
	}))
}

// Names lists the registered checks.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.checks))
	for k := range r.checks {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func write(w http.ResponseWriter, code int, body report) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
