package svctest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildMu  sync.Mutex
	binaries = map[string]string{}
)

// Binary builds cmd/<name> once per test process (without -race: it is a
// system under test, run as a real OS process) and returns its path.
func Binary(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := binaries[name]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "orderpipe-test-bin-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBinary(), "build", "-o", p, "github.com/orderpipe/orderpipe/cmd/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	binaries[name] = p
	return p
}

// goBinary is the go command that runs this test (GOROOT/bin/go, as `go
// env GOROOT` says), else the one on PATH.
func goBinary() string {
	if out, err := exec.CommandContext(context.Background(), "go", "env", "GOROOT").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// Procs runs slots of one service binary as child processes, each slot's
// output in a log file of its own (one per run).
type Procs struct {
	// Grace is how long cleanup waits after SIGTERM before SIGKILL; 0
	// kills at once.
	Grace time.Duration
	// LogsEnv names an environment variable that, set, prints the log
	// tails at cleanup even when the test passed (they are printed when
	// it failed).
	LogsEnv string

	t    testing.TB
	bin  string
	env  []string
	dir  string
	mu   sync.Mutex
	cmds map[string]*exec.Cmd
	runs int
}

// logTail is how much of each log cleanup prints.
const logTail = 8000

// NewProcs returns a Procs for bin whose processes get env (and
// INSTANCE_ID=<slot>). At cleanup every process still running is stopped
// and, if t failed, the tail of every log is printed.
func NewProcs(t testing.TB, bin string, env []string) *Procs {
	ps := &Procs{t: t, bin: bin, env: env, dir: t.TempDir(), cmds: map[string]*exec.Cmd{}}
	t.Cleanup(func() {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		for slot, cmd := range ps.cmds {
			if ps.Grace > 0 {
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
			waitOrKill(cmd, ps.Grace)
			delete(ps.cmds, slot)
		}
		if t.Failed() || (ps.LogsEnv != "" && os.Getenv(ps.LogsEnv) != "") {
			logs, _ := filepath.Glob(filepath.Join(ps.dir, "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				if len(b) > logTail {
					b = b[len(b)-logTail:]
				}
				t.Logf("--- %s (tail) ---\n%s", filepath.Base(l), b)
			}
		}
	})
	return ps
}

func waitOrKill(cmd *exec.Cmd, d time.Duration) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if d <= 0 {
		_ = cmd.Process.Kill()
		<-done
		return
	}
	select {
	case <-done:
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Start runs slot as a new process, with extra environment variables.
func (ps *Procs) Start(slot string, extra ...string) {
	ps.t.Helper()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.cmds[slot]; ok {
		ps.t.Fatalf("slot %s already runs", slot)
	}
	ps.runs++
	logf, err := os.Create(filepath.Join(ps.dir, fmt.Sprintf("%02d-%s.log", ps.runs, slot)))
	if err != nil {
		ps.t.Fatal(err)
	}
	defer func() { _ = logf.Close() }()                      // the child has its own descriptor
	cmd := exec.CommandContext(context.Background(), ps.bin) // stopped by Kill or at cleanup
	cmd.Env = append(append(append([]string(nil), ps.env...), "INSTANCE_ID="+slot), extra...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		ps.t.Fatal(err)
	}
	ps.cmds[slot] = cmd
}

// Kill sends SIGKILL to slot's process: no shutdown code runs,
// transactions are left open.
func (ps *Procs) Kill(slot string) {
	ps.t.Helper()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	cmd, ok := ps.cmds[slot]
	if !ok {
		ps.t.Fatalf("slot %s does not run", slot)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		ps.t.Fatal(err)
	}
	_ = cmd.Wait()
	delete(ps.cmds, slot)
}

// PIDs returns the process ids of the running slots.
func (ps *Procs) PIDs() []int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []int
	for _, cmd := range ps.cmds {
		out = append(out, cmd.Process.Pid)
	}
	return out
}
