package ingress

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/orderpipe/orderpipe/pkg/problem"
)

// Auth configures optional JWT bearer authentication. It is on when a JWKS
// URL or file is set: every /api/v1/orders route then needs
// "Authorization: Bearer <JWT>" signed RS256 or ES256 by a key of the JWKS,
// with the configured issuer and audience, unexpired; its "sub" becomes the
// idempotency scope.
type Auth struct {
	JWKSURL  string
	JWKSFile string
	Issuer   string
	Audience string
	Refresh  time.Duration
}

func (a Auth) enabled() bool { return a.JWKSURL != "" || a.JWKSFile != "" }

func (a Auth) validate() error {
	if !a.enabled() {
		return nil
	}
	var errs []error
	if a.JWKSURL != "" && a.JWKSFile != "" {
		errs = append(errs, errors.New("AUTH_JWKS_URL and AUTH_JWKS_FILE: set one, not both"))
	}
	if a.Issuer == "" || a.Audience == "" {
		errs = append(errs, errors.New("auth is on (a JWKS is set): AUTH_ISSUER and AUTH_AUDIENCE are required"))
	}
	if a.Refresh < time.Second {
		errs = append(errs, fmt.Errorf("AUTH_JWKS_REFRESH %s: want at least 1s", a.Refresh))
	}
	return errors.Join(errs...)
}

// authenticator verifies bearer tokens against a JWKS.
type authenticator struct {
	cfg    Auth
	parser *jwt.Parser
	log    *slog.Logger
	client *http.Client

	mu      sync.RWMutex
	keys    map[string]crypto.PublicKey
	fetched time.Time
}

func newAuthenticator(ctx context.Context, cfg Auth, logger *slog.Logger) (*authenticator, error) {
	a := &authenticator{
		cfg: cfg, log: logger, client: &http.Client{Timeout: 5 * time.Second},
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"RS256", "ES256"}), jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second)),
	}
	if err := a.load(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// load (re)reads the JWKS.
func (a *authenticator) load(ctx context.Context) error {
	var raw []byte
	var err error
	if a.cfg.JWKSFile != "" {
		raw, err = os.ReadFile(a.cfg.JWKSFile)
	} else {
		raw, err = a.fetch(ctx)
	}
	if err != nil {
		return fmt.Errorf("auth: JWKS: %w", err)
	}
	keys, err := parseJWKS(raw)
	if err != nil {
		return fmt.Errorf("auth: JWKS: %w", err)
	}
	a.mu.Lock()
	a.keys, a.fetched = keys, time.Now()
	a.mu.Unlock()
	return nil
}

func (a *authenticator) fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", a.cfg.JWKSURL, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// run refreshes the JWKS periodically until ctx is done.
func (a *authenticator) run(ctx context.Context) {
	t := time.NewTicker(a.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.load(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("JWKS refresh failed; keeping the previous keys", "error", err)
			}
		}
	}
}

func (a *authenticator) key(kid string) (crypto.PublicKey, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	k, ok := a.keys[kid]
	if !ok && kid == "" && len(a.keys) == 1 {
		for _, only := range a.keys {
			return only, true
		}
	}
	return k, ok
}

// subject verifies the request's bearer token and returns its subject.
func (a *authenticator) subject(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return "", errors.New("a bearer token is required")
	}
	claims := jwt.RegisteredClaims{}
	_, err := a.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if k, ok := a.key(kid); ok {
			return k, nil
		}
		// An unknown kid may be a rotated key: refetch at most every 10s.
		a.mu.RLock()
		stale := time.Since(a.fetched) > 10*time.Second
		a.mu.RUnlock()
		if stale && a.cfg.JWKSURL != "" {
			if err := a.load(r.Context()); err == nil {
				if k, ok := a.key(kid); ok {
					return k, nil
				}
			}
		}
		return nil, fmt.Errorf("unknown key id %q", kid)
	})
	if err != nil {
		return "", err
	}
	if claims.Subject == "" {
		return "", errors.New("the token has no subject")
	}
	return claims.Subject, nil
}

type subjectKey struct{}

// middleware rejects requests without a valid token (401) and puts the
// subject in the request context.
func (a *authenticator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, err := a.subject(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			problem.Write(w, r, problem.New(http.StatusUnauthorized, "urn:orderpipe:problem:unauthorized", err.Error()))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), subjectKey{}, sub)))
	})
}

// subjectOf returns the authenticated subject, "" when auth is off.
func subjectOf(ctx context.Context) string {
	s, _ := ctx.Value(subjectKey{}).(string)
	return s
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads the RSA and P-256 EC signing keys of a JWKS (RFC 7517).
func parseJWKS(raw []byte) (map[string]crypto.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, err
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			n, err1 := b64int(k.N)
			e, err2 := b64int(k.E)
			if err := errors.Join(err1, err2); err != nil || !e.IsInt64() {
				return nil, fmt.Errorf("RSA key %q: bad n or e", k.Kid)
			}
			keys[k.Kid] = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case "EC":
			if k.Crv != "P-256" {
				continue
			}
			x, err1 := b64bytes(k.X)
			y, err2 := b64bytes(k.Y)
			if err := errors.Join(err1, err2); err != nil || len(x) != 32 || len(y) != 32 {
				return nil, fmt.Errorf("EC key %q: bad x or y", k.Kid)
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				return nil, fmt.Errorf("EC key %q: %w", k.Kid, err)
			}
			keys[k.Kid] = pub
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no RS256/ES256 signing keys")
	}
	return keys, nil
}

func b64bytes(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func b64int(s string) (*big.Int, error) {
	b, err := b64bytes(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("bad base64url integer")
	}
	return new(big.Int).SetBytes(b), nil
}
