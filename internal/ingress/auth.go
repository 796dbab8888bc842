package ingress

import (
	"context"

	"github.com/orderpipe/orderpipe/pkg/auth"
)

// subjectOf returns the authenticated subject, "" when auth is off.
func subjectOf(ctx context.Context) string { return auth.FromContext(ctx).Subject }
