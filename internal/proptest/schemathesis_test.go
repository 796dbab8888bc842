package proptest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Settings of the run, from the environment (make schemathesis-long sets
// them); the defaults are the bounded pass of `make test`.
func setting(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// The checks every response must pass.
const checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"

// TestSchemathesis runs schemathesis against each HTTP service's
// /openapi.json on the live stack: every operation, every phase (examples,
// coverage, fuzzing, stateful links). Any failing check fails the test
// with schemathesis's report (each failure with a curl line to reproduce).
// The order- and inventory-processor serve only /health/* and /metrics:
// they have no OpenAPI document to test.
func TestSchemathesis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole pipeline and runs schemathesis")
	}
	st := schemathesis(t)
	s := startStack(t, nil)
	seedProducts(t, "http://"+s.addrs["catalog-api"], "prod-00001", "prod-00002", "prod-00003")
	maxTime := setting("SCHEMATHESIS_MAX_TIME", 45)
	seed := os.Getenv("SCHEMATHESIS_SEED")
	if seed == "" && os.Getenv("SCHEMATHESIS_RANDOM") == "" {
		seed = "20261128" // the bounded pass is reproducible; the long run is not
	}
	for _, svc := range []string{"ingress", "catalog-api"} {
		t.Run(svc, func(t *testing.T) {
			base := "http://" + s.addrs[svc]
			args := []string{"run", base + "/openapi.json", "--url", base,
				"--checks", checks, "--max-time", strconv.Itoa(maxTime),
				"--max-examples", strconv.Itoa(setting("SCHEMATHESIS_MAX_EXAMPLES", 50)),
				"--workers", "1", "--request-timeout", "20", "--no-color",
				"--report", "junit", "--report-dir", t.TempDir(),
				"--suppress-health-check", "all"}
			if os.Getenv("SCHEMATHESIS_VERBOSE") == "" {
				args = append(args, "--warnings", "off")
			}
			if seed != "" {
				args = append(args, "--seed", seed)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(maxTime+120)*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, st, args...)
			cmd.Dir = t.TempDir() // its .hypothesis database
			cmd.Env = append(os.Environ(), "SCHEMATHESIS_HOOKS=", "NO_COLOR=1")
			start := time.Now()
			out, err := cmd.CombinedOutput()
			t.Logf("schemathesis %s: %s, %s", svc, time.Since(start).Round(time.Second), summary(out))
			if err != nil {
				t.Errorf("schemathesis against %s failed (%v):\n%s", svc, err, out)
			} else if os.Getenv("SCHEMATHESIS_VERBOSE") != "" {
				t.Logf("%s", out)
			}
		})
	}
}

var summaryRE = regexp.MustCompile(`(?m)^\s*(\d+ generated.*|Scenarios:.*|API Links:.*|=+ .* in [0-9.]+s =+)$`)

// summary is the lines of schemathesis's output worth a log line.
func summary(out []byte) string {
	var parts []string
	for _, m := range summaryRE.FindAllString(string(out), -1) {
		parts = append(parts, strings.Trim(strings.TrimSpace(m), "= "))
	}
	return strings.Join(parts, "; ")
}

// schemathesis returns the schemathesis binary, installing it with the
// project's script (a virtualenv under .cache) when missing. Without
// python3 it skips, unless ORDERPIPE_REQUIRE_REAL=1 (make test), where it
// fails.
func schemathesis(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("ORDERPIPE_REQUIRE_REAL") == "1" {
			t.Fatal("python3 is needed for schemathesis")
		}
		t.Skip("no python3 for schemathesis")
	}
	cmd := exec.CommandContext(context.Background(), filepath.Join(root, "scripts", "install-tools.sh"), "schemathesis")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install schemathesis: %v\n%s", err, out)
	}
	return filepath.Join(root, ".cache", "bin", "schemathesis")
}
