// Package auth verifies bearer JWTs (RS256/ES256) against a JWKS for every
// HTTP service that takes them: the ingress's order routes, catalog-api's
// admin routes and cart checkout. One verifier, one set of settings
// (AUTH_*), one answer shape: 401 + WWW-Authenticate for a missing or bad
// token, 403 for a token without the scope a route needs.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/orderpipe/orderpipe/pkg/config"
)

// Config configures optional JWT bearer authentication. It is on when a
// JWKS URL or file is set: protected routes then need
// "Authorization: Bearer <JWT>" signed RS256 or ES256 by a key of the JWKS,
// with the configured issuer and audience, unexpired, with a subject.
type Config struct {
	JWKSURL  string
	JWKSFile string
	Issuer   string
	Audience string
	Refresh  time.Duration
}

// Register binds the AUTH_* settings.
func (c *Config) Register(s *config.Set) {
	s.String(&c.JWKSURL, "AUTH_JWKS_URL", "auth-jwks-url", "", "JWKS URL of the JWT signing keys; setting it (or AUTH_JWKS_FILE) turns bearer auth on")
	s.String(&c.JWKSFile, "AUTH_JWKS_FILE", "auth-jwks-file", "", "JWKS file of the JWT signing keys (instead of AUTH_JWKS_URL)")
	s.String(&c.Issuer, "AUTH_ISSUER", "auth-issuer", "", "required JWT iss when auth is on")
	s.String(&c.Audience, "AUTH_AUDIENCE", "auth-audience", "", "required JWT aud when auth is on")
	s.Duration(&c.Refresh, "AUTH_JWKS_REFRESH", "auth-jwks-refresh", 5*time.Minute, "how often the JWKS URL is re-read")
}

// Enabled reports whether auth is on (a JWKS is configured).
func (c Config) Enabled() bool { return c.JWKSURL != "" || c.JWKSFile != "" }

// Validate reports every problem at once; nothing is checked with auth off.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if c.JWKSURL != "" && c.JWKSFile != "" {
		errs = append(errs, errors.New("AUTH_JWKS_URL and AUTH_JWKS_FILE: set one, not both"))
	}
	if c.Issuer == "" || c.Audience == "" {
		errs = append(errs, errors.New("auth is on (a JWKS is set): AUTH_ISSUER and AUTH_AUDIENCE are required"))
	}
	if c.Refresh < time.Second {
		errs = append(errs, fmt.Errorf("AUTH_JWKS_REFRESH %s: want at least 1s", c.Refresh))
	}
	return errors.Join(errs...)
}
