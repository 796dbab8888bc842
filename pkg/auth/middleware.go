package auth

import (
	"context"
	"errors"
	"net/http"

	"github.com/orderpipe/orderpipe/pkg/problem"
)

// Problem types of refused requests.
const (
	TypeUnauthorized = "urn:orderpipe:problem:unauthorized"
	TypeForbidden    = "urn:orderpipe:problem:forbidden"
)

// Authenticator verifies a request's bearer token (*Verifier; tests may
// stand in their own).
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the request's caller; the zero Principal (no subject)
// when auth is off.
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// Require wraps next so that it runs only for a verified caller (put in the
// request context), with every scope in scopes. A nil a lets every request
// through unchecked (auth off).
func Require(a Authenticator, next http.Handler, scopes ...string) http.Handler {
	if a == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err != nil {
			WriteUnauthorized(w, r, err)
			return
		}
		for _, s := range scopes {
			if !p.HasScope(s) {
				WriteForbidden(w, r, s)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// WriteUnauthorized answers 401 with WWW-Authenticate (RFC 6750).
func WriteUnauthorized(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNoToken) {
		w.Header().Set("WWW-Authenticate", `Bearer`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	problem.Write(w, r, problem.New(http.StatusUnauthorized, TypeUnauthorized, err.Error()))
}

// WriteForbidden answers 403 for a token without scope (RFC 6750).
func WriteForbidden(w http.ResponseWriter, r *http.Request, scope string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
	problem.Write(w, r, problem.New(http.StatusForbidden, TypeForbidden, "this route needs the "+scope+" scope"))
}
