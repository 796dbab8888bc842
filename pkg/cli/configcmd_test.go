package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestREADMEConfigTableIsCurrent keeps README.md's configuration table equal
// to what the services really read. Regenerate it with `orderpipe config`.
func TestREADMEConfigTableIsCurrent(t *testing.T) {
	var out bytes.Buffer
	if err := runConfig(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "<!-- config-table:start -->\n", "<!-- config-table:end -->"
	s := string(readme)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the config-table markers")
	}
	if got := s[i+len(start) : j]; got != out.String() {
		t.Errorf("README.md's configuration table is stale; replace it with the output of `go run ./cmd/orderpipe config`")
	}
}
