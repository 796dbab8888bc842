package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// promtool returns Debian's promtool, installed by scripts/install-tools.sh
// when missing.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if out, err := exec.Command("../../scripts/install-tools.sh", "promtool").CombinedOutput(); err != nil {
		t.Fatalf("install promtool: %v\n%s", err, out)
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAlertRules: `promtool check rules` and `promtool test rules` (a firing
// and a quiet case per alert, the idle transactional topic among the quiet
// ones); every alert has a severity and a runbook_url into docs/runbooks/
// that exists.
func TestAlertRules(t *testing.T) {
	pt := promtool(t)
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(pt, args...)
		cmd.Dir = "orderpipe/files"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	rf := loadRules(t)
	var tf struct {
		Tests []struct {
			Name string `json:"name"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(must(os.ReadFile("orderpipe/files/alerts_test.yaml")), &tf); err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, c := range tf.Tests {
		name, kind, _ := strings.Cut(c.Name, ":")
		tested[name] = true
		tested[name+" "+kind] = true
	}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			const prefix = "https://github.com/orderpipe/orderpipe/blob/main/"
			url := r.Annotations["runbook_url"]
			if !strings.HasPrefix(url, prefix+"docs/runbooks/") {
				t.Errorf("%s: runbook_url %q not into docs/runbooks/", r.Alert, url)
				continue
			}
			if _, err := os.Stat(filepath.Join("../..", strings.TrimPrefix(url, prefix))); err != nil {
				t.Errorf("%s: runbook missing: %v", r.Alert, err)
			}
			if r.Labels["severity"] == "" {
				t.Errorf("%s: no severity", r.Alert)
			}
			for _, kind := range []string{"fires", "quiet"} {
				if !tested[r.Alert+" "+kind] {
					t.Errorf("%s: no promtool test case that it %s", r.Alert, kind)
				}
			}
		}
	}
	if n < 8 {
		t.Fatalf("%d alerts", n)
	}
}

func loadRules(t *testing.T) RuleFile {
	t.Helper()
	var rf RuleFile
	if err := yaml.UnmarshalStrict(must(os.ReadFile("orderpipe/files/alerts.yaml")), &rf); err != nil {
		t.Fatal(err)
	}
	return rf
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestReadmeListsPanelsAndAlerts: the README's "Dashboards and alerts"
// section names every panel with its query and every alert with its
// expression (whitespace collapsed).
func TestReadmeListsPanelsAndAlerts(t *testing.T) {
	readme := string(must(os.ReadFile("../../README.md")))
	for _, q := range dashboardQueries(t) {
		if !strings.Contains(readme, strings.ReplaceAll(q.expr, "|", `\|`)) {
			t.Errorf("README lacks %s: %s", q.what, q.expr)
		}
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if !strings.Contains(readme, "["+r.Alert+"]") {
				t.Errorf("README lacks alert %s", r.Alert)
			}
			expr := strings.ReplaceAll(strings.Join(strings.Fields(r.Expr), " "), "|", `\|`)
			if !strings.Contains(readme, "`"+expr+"`") {
				t.Errorf("README lacks the expression of alert %s: `%s`", r.Alert, expr)
			}
		}
	}
}
