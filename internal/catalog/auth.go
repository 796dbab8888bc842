package catalog

import (
	"net/http"

	"github.com/orderpipe/orderpipe/pkg/auth"
	"github.com/orderpipe/orderpipe/pkg/problem"
)

// AdminScope is the token scope the admin routes require when auth is on.
const AdminScope = "catalog:admin"

// Principal is an authenticated caller.
type Principal = auth.Principal

// Authenticator verifies a request's bearer token (*auth.Verifier, the same
// verifier as the ingress's).
type Authenticator = auth.Authenticator

// principal is the authentication state of a request: with auth off (no JWKS
// configured) everyone passes and has no subject; with auth on, a missing
// verifier refuses rather than letting requests through unchecked. It
// writes the refusal and returns false.
func (s *Service) principal(w http.ResponseWriter, r *http.Request) (Principal, bool) {
	switch {
	case s.Auth != nil:
		p, err := s.Auth.Authenticate(r)
		if err != nil {
			auth.WriteUnauthorized(w, r, err)
			return Principal{}, false
		}
		return p, true
	case s.cfg.AdminAuth:
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, TypeUnavailable,
			"authentication is configured but catalog-api has no token verifier wired; refusing rather than skipping it"))
		return Principal{}, false
	}
	return Principal{}, true
}

// adminAuth guards the admin routes: with auth on, a verified token with
// the catalog:admin scope (401 without a valid token, 403 without the scope).
func (s *Service) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.principal(w, r)
		if !ok {
			return
		}
		if (s.Auth != nil || s.cfg.AdminAuth) && !p.HasScope(AdminScope) {
			auth.WriteForbidden(w, r, AdminScope)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}
