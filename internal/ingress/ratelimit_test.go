package ingress

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"

	"github.com/orderpipe/orderpipe/internal/svctest"
	"github.com/orderpipe/orderpipe/pkg/kafka"
	"github.com/orderpipe/orderpipe/pkg/problem"
	"github.com/orderpipe/orderpipe/pkg/testenv"
)

// TestAbusiveClientIsRateLimited: one client (behind a trusted proxy, so
// named by X-Forwarded-For) floods POST /api/v1/orders with fresh keys and
// a new customerId each time — the per-customer limit never sees it twice —
// and gets 429 + Retry-After once over RATE_LIMIT_CLIENT_RPS, while other
// clients sending at the same time get 202. Only accepted orders reach the
// topic.
func TestAbusiveClientIsRateLimited(t *testing.T) {
	kenv := testenv.Kafka(t)
	svctest.ApplyTopics(t, kenv.Config)
	cfg := testConfig(kenv.Config, redisConfig(testenv.Redis(t)))
	cfg.ClientLimit = ClientLimit{RPS: 5, TrustedProxies: "127.0.0.0/8, ::1/128, 10.0.0.0/8"} // the test client, then an inner proxy
	cfg.Intake.ScopeRPS = 50
	h := startIngress(t, cfg)

	const abusive = 60
	accepted, limited := 0, 0
	for i := range abusive {
		res := h.do("POST", "/api/v1/orders", orderBody(fmt.Sprintf("bot-%d", i), 1),
			map[string]string{"Idempotency-Key": "bot-" + strconv.Itoa(i), "X-Forwarded-For": "203.0.113.7"})
		switch res.Status {
		case http.StatusAccepted:
			accepted++
		case http.StatusTooManyRequests:
			limited++
			if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("429 without a usable Retry-After: %q", res.Header.Get("Retry-After"))
			}
			if ct := res.Header.Get("Content-Type"); ct != problem.ContentType || res.Body["type"] != "urn:orderpipe:problem:rate-limited" {
				t.Errorf("429 is %s %s, want a rate-limited problem", ct, res.Raw)
			}
		default:
			t.Fatalf("abusive request %d: %d %s", i, res.Status, res.Raw)
		}
		if i%6 == 5 { // other clients, during the attack
			for c := range 3 {
				n := i*10 + c
				res := h.do("POST", "/api/v1/orders", orderBody(fmt.Sprintf("cust-%d", n), 1),
					map[string]string{"Idempotency-Key": "k-" + strconv.Itoa(n), "X-Forwarded-For": fmt.Sprintf("198.51.100.%d, 10.1.2.3", 1+n%200)})
				if res.Status != http.StatusAccepted {
					t.Errorf("client 198.51.100.%d during the attack: %d %s, want 202", 1+n%200, res.Status, res.Raw)
				} else {
					accepted++
				}
			}
		}
	}
	if limited == 0 {
		t.Fatalf("the abusive client was never limited (%d requests)", abusive)
	}
	// Every order route is limited for it, reads and cancels too.
	id := "00000000-0000-4000-8000-000000000000"
	for _, rq := range [][2]string{{"GET", "/api/v1/orders?customerId=bot-1"}, {"GET", "/api/v1/orders/" + id}, {"POST", "/api/v1/orders/" + id + "/cancel"}} {
		got := 0
		for range 20 { // more than a second's permits, even if a new second began
			if res := h.do(rq[0], rq[1], "", map[string]string{"X-Forwarded-For": "203.0.113.7"}); res.Status == http.StatusTooManyRequests {
				got++
			}
		}
		if got == 0 {
			t.Errorf("%s %s: 20 requests from the limited client, no 429", rq[0], rq[1])
		}
	}
	t.Logf("abusive client: %d of %d answered 429", limited, abusive)
	if got := len(testenv.ReadAll(t, kenv.Config, kafka.TopicNames(kenv.Config.TopicPrefix).OrderRequests)); got != accepted {
		t.Errorf("%d records on the request topic, want %d (one per 202, none per 429)", got, accepted)
	}
}

// TestForwardedForIsBelievedOnlyFromTrustedProxies: without trusted
// proxies the TCP peer is the client, whatever X-Forwarded-For says, so a
// client cannot dodge its limit by inventing addresses.
func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	kenv := testenv.Kafka(t)
	svctest.ApplyTopics(t, kenv.Config)
	cfg := testConfig(kenv.Config, redisConfig(testenv.Redis(t)))
	cfg.ClientLimit = ClientLimit{RPS: 3}
	h := startIngress(t, cfg)
	limited := 0
	for i := range 20 {
		res := h.do("POST", "/api/v1/orders", orderBody(fmt.Sprintf("spoof-%d", i), 1),
			map[string]string{"Idempotency-Key": "spoof-" + strconv.Itoa(i), "X-Forwarded-For": fmt.Sprintf("192.0.2.%d", i)})
		if res.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("a client rotating X-Forwarded-For was never limited without trusted proxies")
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, c := range []struct{ peer, xff, want string }{
		{"203.0.113.9:1234", "", "203.0.113.9"},
		{"203.0.113.9:1234", "1.2.3.4", "203.0.113.9"},                     // untrusted peer: header ignored
		{"10.1.1.1:80", "198.51.100.7", "198.51.100.7"},                    // one trusted proxy
		{"10.1.1.1:80", "6.6.6.6, 198.51.100.7, 10.2.2.2", "198.51.100.7"}, // forged left part ignored
		{"10.1.1.1:80", "garbage, 198.51.100.7", "198.51.100.7"},
		{"10.1.1.1:80", "198.51.100.7, garbage", "10.1.1.1"},
		{"10.1.1.1:80", "10.2.2.2", "10.2.2.2"}, // only proxies: the left-most
		{"[::ffff:127.0.0.1]:80", "198.51.100.8", "198.51.100.8"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/orders", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientIP(r, trusted).String(); got != c.want {
			t.Errorf("peer %s xff %q: %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	if k := clientKey(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")); k != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 key %s, want its /64", k)
	}
}
