package testenv

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestEventually(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "eventually" {
		Eventually(t, 200*time.Millisecond, "the sky turns green", func() error { return errors.New("still blue") })
		return
	}
	n := 0
	Eventually(t, time.Minute, "third call", Holds(func() bool { n++; return n == 3 }))
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
	// A condition that never holds fails the test, naming what and why.
	cmd := exec.Command(os.Args[0], "-test.run=^TestEventually$", "-test.v")
	cmd.Env = append(os.Environ(), "TESTENV_CHILD=eventually")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not within 200ms: the sky turns green: still blue") {
		t.Fatalf("want a failure naming what and the last error, got err=%v:\n%s", err, out)
	}
}
