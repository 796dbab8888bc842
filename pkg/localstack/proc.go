package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// startDetached starts cmd in its own session (so it survives the parent and
// a Ctrl-C in the parent's terminal), with stdout/stderr appended to logPath
// (a file, never a pipe: a pipe would break when the parent exits). The child
// is reaped in the background so a killed child does not linger as a zombie.
func startDetached(cmd *exec.Cmd, logPath string) (int, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("open log %s: %w", logPath, err)
	}
	defer func() { _ = logf.Close() }()
	cmd.Stdin = nil
	cmd.Stdout = logf
	cmd.Stderr = logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait() //nolint:errcheck // reaper only; liveness is checked via the pid
	return pid, nil
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Format: pid (comm) S ...; comm may contain spaces and parentheses.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

// ownedBy reports whether pid is alive and belongs to a server started under
// dir: its working directory is inside dir. Every server here runs with its
// working directory in its own data dir, so a pid reused by an unrelated
// process after a reboot is never signalled.
func ownedBy(pid int, dir string) bool {
	if !alive(pid) {
		return false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return false
	}
	return within(cwd, dir)
}

func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// serverExes are the executables that strays may kill.
var serverExes = map[string]bool{"java": true, "postgres": true, "redis-server": true}

// strays lists server processes (java, postgres, redis-server) whose working
// directory lies inside dir: whatever a crashed run left behind.
func strays(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !serverExes[filepath.Base(strings.TrimSuffix(exe, " (deleted)"))] {
			continue
		}
		if ownedBy(pid, dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// terminate sends SIGTERM to pid's process group (falling back to pid) and
// waits up to grace for it to exit; then it sends SIGKILL and waits again.
func terminate(ctx context.Context, pid int, grace time.Duration) error {
	if !alive(pid) {
		return nil
	}
	signalGroup(pid, syscall.SIGTERM)
	if waitGone(ctx, grace, pid) {
		return nil
	}
	return kill(ctx, pid)
}

// kill sends SIGKILL to pid's process group (falling back to pid) and waits
// until pid is gone.
func kill(ctx context.Context, pid int) error {
	if !alive(pid) {
		return nil
	}
	signalGroup(pid, syscall.SIGKILL)
	if waitGone(ctx, 10*time.Second, pid) {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("kill pid %d: %w", pid, ctx.Err())
	}
	return fmt.Errorf("pid %d still alive after SIGKILL", pid)
}

// signalGroup signals the process group led by pid if pid leads one (our
// servers run in their own session), else just pid.
func signalGroup(pid int, sig syscall.Signal) {
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
		_ = syscall.Kill(-pid, sig)
		return
	}
	_ = syscall.Kill(pid, sig)
}

// waitGone polls until every pid is gone, the timeout passes or ctx ends.
func waitGone(ctx context.Context, timeout time.Duration, pids ...int) bool {
	deadline := time.Now().Add(timeout)
	for {
		left := false
		for _, p := range pids {
			if alive(p) {
				left = true
				break
			}
		}
		if !left {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func writePid(path string, pid int) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// readPid reads the first line of a pid file (also postgres' postmaster.pid);
// 0 if there is none.
func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return lastLines(string(b), n)
}

// syncWriter serialises writes from servers starting in parallel.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// say prints a progress line; progress output never fails an operation.
func say(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}

func outOrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
