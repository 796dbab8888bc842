package catalog

import (
	"net/http"
	"slices"

	"github.com/orderpipe/orderpipe/pkg/problem"
)

// AdminScope is the token scope the admin routes require when auth is on.
const AdminScope = "catalog:admin"

// Principal is an authenticated caller.
type Principal struct {
	Subject string
	Scopes  []string
}

// Authenticator verifies a request's bearer token (the ingress's JWT
// verification, once it is a shared package).
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// principal is the authentication state of a request: with auth off (no JWKS
// configured) everyone passes and has no subject; with auth on, a missing
// verifier refuses rather than letting requests through unchecked.
func (s *Service) principal(r *http.Request) (Principal, *problem.Problem) {
	switch {
	case s.Auth != nil:
		p, err := s.Auth.Authenticate(r)
		if err != nil {
			return Principal{}, problem.New(http.StatusUnauthorized, TypeUnauthorized, err.Error())
		}
		return p, nil
	case s.cfg.AdminAuth:
		return Principal{}, problem.New(http.StatusServiceUnavailable, TypeUnavailable,
			"authentication is configured but catalog-api has no token verifier wired; refusing rather than skipping it")
	}
	return Principal{}, nil
}

// adminAuth guards the admin routes: with auth on, a verified token with
// the catalog:admin scope.
func (s *Service) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, prob := s.principal(r)
		if prob != nil {
			if prob.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			}
			problem.Write(w, r, prob)
			return
		}
		if (s.Auth != nil || s.cfg.AdminAuth) && !slices.Contains(p.Scopes, AdminScope) {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+AdminScope+`"`)
			problem.Write(w, r, problem.New(http.StatusForbidden, TypeForbidden, "the admin routes need the "+AdminScope+" scope"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
