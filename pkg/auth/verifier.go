package auth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Principal is an authenticated caller: the token's subject and scopes
// (the space-separated "scope" claim, or "scp" as a string or array).
type Principal struct {
	Subject string
	Scopes  []string
}

// HasScope reports whether p holds scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Verifier verifies bearer tokens against a JWKS.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
	log    *slog.Logger
	client *http.Client

	// refetchEvery bounds how often an unknown kid refetches the JWKS URL
	// (a flood of made-up kids must not become a flood of fetches).
	refetchEvery time.Duration

	mu      sync.RWMutex
	keys    map[string]crypto.PublicKey
	fetched time.Time
}

// Leeway is the clock skew allowed on exp, nbf and iat.
const Leeway = 30 * time.Second

// New reads the JWKS once (an error if it cannot) and returns the verifier.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("auth: no JWKS configured")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{
		cfg: cfg, log: logger, client: &http.Client{Timeout: 5 * time.Second}, refetchEvery: 10 * time.Second,
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"RS256", "ES256"}), jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(Leeway)),
	}
	if err := v.load(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// load (re)reads the JWKS.
func (v *Verifier) load(ctx context.Context) error {
	var raw []byte
	var err error
	if v.cfg.JWKSFile != "" {
		raw, err = os.ReadFile(v.cfg.JWKSFile) //nolint:gosec // the operator configures the JWKS file
	} else {
		raw, err = v.fetch(ctx)
	}
	if err != nil {
		return fmt.Errorf("auth: JWKS: %w", err)
	}
	keys, err := ParseJWKS(raw)
	if err != nil {
		return fmt.Errorf("auth: JWKS: %w", err)
	}
	v.mu.Lock()
	v.keys, v.fetched = keys, time.Now()
	v.mu.Unlock()
	return nil
}

func (v *Verifier) fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil) //nolint:gosec // the operator configures the JWKS URL
	if err != nil {
		return nil, err
	}
	resp, err := v.client.Do(req) //nolint:gosec // the operator configures the JWKS URL
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", v.cfg.JWKSURL, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// Run re-reads the JWKS every Refresh until ctx is done (a failed read keeps
// the previous keys). A JWKS file is re-read too, so a rotated file is
// picked up without a restart.
func (v *Verifier) Run(ctx context.Context) {
	t := time.NewTicker(v.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := v.load(ctx); err != nil && ctx.Err() == nil {
				v.log.Warn("JWKS refresh failed; keeping the previous keys", "error", err)
			}
		}
	}
}

func (v *Verifier) key(kid string) (crypto.PublicKey, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	k, ok := v.keys[kid]
	if !ok && kid == "" && len(v.keys) == 1 {
		for _, only := range v.keys {
			return only, true
		}
	}
	return k, ok
}

// ErrNoToken is the error for a request without a bearer token.
var ErrNoToken = errors.New("a bearer token is required")

type claims struct {
	jwt.RegisteredClaims
	Scope any `json:"scope,omitempty"`
	Scp   any `json:"scp,omitempty"`
}

// Authenticate verifies the request's bearer token and returns its caller.
func (v *Verifier) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, ErrNoToken
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if k, ok := v.key(kid); ok {
			return k, nil
		}
		// An unknown kid may be a rotated key: refetch, at most every
		// refetchEvery.
		v.mu.RLock()
		stale := time.Since(v.fetched) > v.refetchEvery
		v.mu.RUnlock()
		if stale && v.cfg.JWKSURL != "" {
			if err := v.load(r.Context()); err == nil {
				if k, ok := v.key(kid); ok {
					return k, nil
				}
			}
		}
		return nil, fmt.Errorf("unknown key id %q", kid)
	})
	if err != nil {
		return Principal{}, err
	}
	if c.Subject == "" {
		return Principal{}, errors.New("the token has no subject")
	}
	return Principal{Subject: c.Subject, Scopes: scopes(c.Scope, c.Scp)}, nil
}

// scopes reads OAuth "scope" (space-separated) and "scp" (string or array).
func scopes(claims ...any) []string {
	var out []string
	for _, c := range claims {
		switch v := c.(type) {
		case string:
			out = append(out, strings.Fields(v)...)
		case []any:
			for _, s := range v {
				if s, ok := s.(string); ok && s != "" {
					out = append(out, s)
				}
			}
		}
	}
	return out
}
