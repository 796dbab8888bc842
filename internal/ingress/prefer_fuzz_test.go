package ingress

import (
	"strings"
	"testing"
	"time"
)

// FuzzPreferWait: any Prefer header gives no wait or a wait in (0, limit].
func FuzzPreferWait(f *testing.F) {
	for _, s := range []string{"wait=5", "respond-async, wait=10", `wait="3"`, "wait=99999999999999999999", "wait=9223372036854775807", "wait=-1", "WAIT = 2", "wait", "=,=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		const limit = 30 * time.Second
		d, ok := preferWait(strings.Split(header, "\n"), limit)
		if ok && (d <= 0 || d > limit) {
			t.Fatalf("Prefer %q: wait %s (ok) outside (0, %s]", header, d, limit)
		}
	})
}
