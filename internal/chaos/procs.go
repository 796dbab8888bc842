package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Services are the service binaries the harness runs.
var Services = []string{"ingress", "catalog-api", "inventory-processor", "order-processor"}

// Build compiles cmd/<service> for every service into dir.
func Build(ctx context.Context, root, dir string) error {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, s := range Services {
		args = append(args, "./cmd/"+s)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// Slot is one instance of a service: a stable INSTANCE_ID and HTTP port
// across restarts, and at most one process at a time.
type Slot struct {
	Service string
	ID      string // INSTANCE_ID
	Addr    string // 127.0.0.1:port

	bin, logPath string
	env          []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	killed  bool // the harness killed or stopped it on purpose
	crashes []string
	starts  int
}

// Fleet is every slot of every service.
type Fleet struct {
	Slots []*Slot
}

// NewFleet lays out n instances of each service with their ports and logs.
func NewFleet(binDir, logDir string, instances map[string]int, env []string) (*Fleet, error) {
	f := &Fleet{}
	for _, svc := range Services {
		for i := range instances[svc] {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			id := fmt.Sprintf("%s-%d", svc, i)
			f.Slots = append(f.Slots, &Slot{Service: svc, ID: id, Addr: fmt.Sprintf("127.0.0.1:%d", port),
				bin: filepath.Join(binDir, svc), logPath: filepath.Join(logDir, id+".log"), env: env})
		}
	}
	return f, nil
}

// Of lists the slots of one service.
func (f *Fleet) Of(svc string) []*Slot {
	var out []*Slot
	for _, s := range f.Slots {
		if s.Service == svc {
			out = append(out, s)
		}
	}
	return out
}

func freePort() (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs the slot's process (no-op if it runs). It dies with the
// harness (Pdeathsig), so nothing leaks even if the harness is killed.
func (s *Slot) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }() // the child has its own descriptor
	// Not bound to a ctx: the slot's life is Start/Kill/Stop, and
	// Pdeathsig ends it with the harness.
	cmd := exec.Command(s.bin) //nolint:noctx // see above
	cmd.Env = append(append([]string(nil), s.env...), "INSTANCE_ID="+s.ID, "HTTP_ADDR="+s.Addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.ID, err)
	}
	s.cmd, s.killed, s.exited = cmd, false, make(chan struct{})
	s.starts++
	go s.wait(cmd, s.exited)
	return nil
}

func (s *Slot) wait(cmd *exec.Cmd, exited chan struct{}) {
	err := cmd.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.killed {
		s.crashes = append(s.crashes, fmt.Sprintf("%s exited on its own at %s: %v (see %s)", s.ID, time.Now().Format(time.TimeOnly), err, s.logPath))
	}
	if s.cmd == cmd {
		s.cmd = nil
	}
	close(exited)
}

// Running reports whether a process runs in the slot.
func (s *Slot) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Kill sends SIGKILL and waits until the process is gone.
func (s *Slot) Kill() { s.stop(syscall.SIGKILL, 0) }

// Stop sends SIGTERM, then SIGKILL after grace.
func (s *Slot) Stop(grace time.Duration) { s.stop(syscall.SIGTERM, grace) }

func (s *Slot) stop(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	if cmd == nil {
		s.mu.Unlock()
		return
	}
	s.killed = true
	_ = cmd.Process.Signal(sig)
	s.mu.Unlock()
	if sig != syscall.SIGKILL {
		select {
		case <-exited:
			return
		case <-time.After(grace):
			_ = cmd.Process.Kill()
		}
	}
	<-exited
}

// Crashes are the exits the harness did not cause.
func (s *Slot) Crashes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.crashes...)
}

// WaitReady polls /health/ready until it answers 200.
func (s *Slot) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr+"/health/ready", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !s.Running() {
			return fmt.Errorf("%s exited before it was ready (see %s)", s.ID, s.logPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (see %s): %w", s.ID, timeout, s.logPath, errors.Join(ctx.Err(), err))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// StopAll stops every slot (SIGTERM, SIGKILL after grace), all at once.
func (f *Fleet) StopAll(grace time.Duration) {
	var wg sync.WaitGroup
	for _, s := range f.Slots {
		wg.Go(func() { s.Stop(grace) })
	}
	wg.Wait()
}

// Crashes of every slot.
func (f *Fleet) Crashes() []string {
	var out []string
	for _, s := range f.Slots {
		out = append(out, s.Crashes()...)
	}
	return out
}
