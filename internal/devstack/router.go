package devstack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/orderpipe/orderpipe/pkg/problem"
)

// Route sends a path prefix to a service. The Helm chart's Ingress routes
// the same prefixes (deploy/helm/orderpipe/values.yaml: ingress.routes).
type Route struct {
	Prefix  string
	Service string
}

// Routes is the public path table of the single base URL. The ingress
// serves every /api/v1/orders route (a path router cannot split by method).
var Routes = []Route{
	{"/api/v1/orders", "ingress"},
	{"/api/v1/products", "catalog-api"},
	{"/api/v1/carts", "catalog-api"},
	{"/api/v1/admin", "catalog-api"},
}

// router is the dev stack's single base URL: public routes by prefix,
// /services/<name>/… to any one service (its /metrics, /openapi.json,
// probes), and /health/* as the aggregate of every service's probe.
type router struct {
	proxies map[string]*httputil.ReverseProxy
	addrs   map[string]string
	client  *http.Client
}

func newRouter(addrs map[string]string) *router {
	r := &router{proxies: map[string]*httputil.ReverseProxy{}, addrs: addrs, client: &http.Client{Timeout: 3 * time.Second}}
	for name, addr := range addrs {
		target := &url.URL{Scheme: "http", Host: addr}
		p := httputil.NewSingleHostReverseProxy(target)
		p.ErrorHandler = func(w http.ResponseWriter, req *http.Request, err error) {
			problem.Write(w, req, problem.New(http.StatusBadGateway, "", name+" is not answering: "+err.Error()).WithRetryAfter(time.Second))
		}
		r.proxies[name] = p
	}
	return r
}

func (r *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	path := req.URL.Path
	if strings.HasPrefix(path, "/health/") {
		r.health(w, req)
		return
	}
	if rest, ok := strings.CutPrefix(path, "/services/"); ok {
		name, sub, _ := strings.Cut(rest, "/")
		if p, ok := r.proxies[name]; ok {
			req.URL.Path = "/" + sub
			p.ServeHTTP(w, req)
			return
		}
	}
	for _, rt := range Routes {
		if path == rt.Prefix || strings.HasPrefix(path, rt.Prefix+"/") {
			r.proxies[rt.Service].ServeHTTP(w, req)
			return
		}
	}
	problem.NotFound(w, req)
}

// health answers a probe for the whole stack: 200 only if every service
// answers 200, with each service's answer in the body.
func (r *router) health(w http.ResponseWriter, req *http.Request) {
	results := map[string]probeResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, addr := range r.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := probe(req.Context(), r.client, "http://"+addr+req.URL.Path)
			mu.Lock()
			results[name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	code := http.StatusOK
	for _, res := range results {
		if res.Status != http.StatusOK {
			code = http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(results)
}

type probeResult struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
	Error  string          `json:"error,omitempty"`
}

func probe(ctx context.Context, client *http.Client, u string) probeResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil) //nolint:gosec // G704: u is one of our own services' loopback addresses
	if err != nil {
		return probeResult{Error: err.Error()}
	}
	resp, err := client.Do(req) //nolint:gosec // G704: u is one of our own services' loopback addresses
	if err != nil {
		return probeResult{Error: err.Error()}
	}
	defer func() { _ = resp.Body.Close() }()
	var body json.RawMessage
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		body = nil
	}
	return probeResult{Status: resp.StatusCode, Body: body}
}
