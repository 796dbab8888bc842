package ingress

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderpipe/orderpipe/internal/intake"
	"github.com/orderpipe/orderpipe/pkg/config"
	"github.com/orderpipe/orderpipe/pkg/problem"
)

// ClientLimit is the per-client-IP rate limit on the order routes
// (decision 0027). The per-customer limit (RATE_LIMIT_SCOPE_RPS) keys on
// the JWT subject with auth on, but without auth on the customerId, which
// the caller chooses: an abusive client rotating customerIds passes it.
// This limit keys on where the request comes from instead.
type ClientLimit struct {
	RPS            int    // requests per second per client IP on /api/v1/orders*; 0 = off
	TrustedProxies string // comma-separated CIDRs whose X-Forwarded-For is believed
}

// Register binds the settings.
func (c *ClientLimit) Register(s *config.Set) {
	s.Int(&c.RPS, "RATE_LIMIT_CLIENT_RPS", "rate-limit-client-rps", 0, "requests per second per client IP on the order routes before 429 + Retry-After (0 = no limit; set RATE_LIMIT_TRUSTED_PROXIES behind a proxy)")
	s.String(&c.TrustedProxies, "RATE_LIMIT_TRUSTED_PROXIES", "rate-limit-trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For names the client (empty: the TCP peer is the client)")
}

// Validate reports every problem at once.
func (c *ClientLimit) Validate() error {
	var errs []error
	if c.RPS < 0 {
		errs = append(errs, fmt.Errorf("RATE_LIMIT_CLIENT_RPS %d: want ≥ 0", c.RPS))
	}
	_, err := c.proxies()
	return errors.Join(append(errs, err)...)
}

// proxies parses TrustedProxies.
func (c *ClientLimit) proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, f := range strings.Split(c.TrustedProxies, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("RATE_LIMIT_TRUSTED_PROXIES %q: want CIDRs such as 10.0.0.0/8", f))
			continue
		}
		out = append(out, p.Masked())
	}
	return out, errors.Join(errs...)
}

// clientLimiter answers 429 + Retry-After to a client over its rate before
// any other work (auth, body, Redis, Kafka) is done for it.
type clientLimiter struct {
	trusted []netip.Prefix
	limits  *intake.KeyedLimiter
	limited prometheus.Counter
}

func newClientLimiter(cfg ClientLimit, reg prometheus.Registerer) (*clientLimiter, error) {
	trusted, err := cfg.proxies()
	if err != nil || cfg.RPS <= 0 {
		return nil, err
	}
	l := &clientLimiter{trusted: trusted, limits: intake.NewKeyedLimiter(cfg.RPS), limited: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "orderpipe_ingress_client_rate_limited_total", Help: "Requests answered 429 by the per-client-IP rate limit.",
	})}
	reg.MustRegister(l.limited)
	return l, nil
}

func (l *clientLimiter) wrap(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.limits.Allow(clientKey(clientIP(r, l.trusted))) {
			l.limited.Inc()
			problem.Write(w, r, problem.New(http.StatusTooManyRequests, intake.TypeRateLimited,
				"too many requests from this client; retry later").WithRetryAfter(time.Second))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP is the request's client address: the TCP peer, or, when the
// peer is a trusted proxy, the right-most X-Forwarded-For entry that is not
// a trusted proxy (entries left of it are the client's to forge).
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	ip = ip.Unmap()
	if !isTrusted(ip, trusted) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: stop believing the header
		}
		ip = hop.Unmap()
		if !isTrusted(ip, trusted) {
			break
		}
	}
	return ip
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientKey is the limiter key of an address: an IPv4 address, or the /64
// of an IPv6 one (one subscriber gets a whole /64 to rotate through).
func clientKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
