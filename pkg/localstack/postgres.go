package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	Dir string // instance dir (data/, run/, postgres.log); wiped and created
	Out io.Writer
}

// Postgres is a local PostgreSQL instance run by the postgres OS user when we
// are root (PostgreSQL refuses to run as root).
type Postgres struct {
	mu    sync.Mutex
	state postgresState
	out   io.Writer
}

type postgresState struct {
	Dir       string
	BinDir    string
	Port      int
	SocketDir string
}

// StartPostgres initialises a fresh cluster in opts.Dir with a login role and
// database "orderpipe" (trust auth, loopback only) and starts it on a free port.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	dir, err := absDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	bin, err := pgBinDir()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w (run EnsurePackages)", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	p := &Postgres{out: outOrDiscard(opts.Out), state: postgresState{Dir: dir, BinDir: bin, Port: ports[0]}}
	p.state.SocketDir = filepath.Join(dir, "run")
	if len(p.state.SocketDir)+len("/.s.PGSQL.65535") > 100 { // unix socket paths max out at 107 bytes
		p.state.SocketDir = filepath.Join(os.TempDir(), fmt.Sprintf("orderpipe-pg-%d", p.state.Port))
	}
	start := time.Now()
	if err := p.initdb(ctx); err != nil {
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	if err := p.createAppDB(ctx); err != nil {
		p.Kill() //nolint:errcheck // already failing
		return nil, err
	}
	say(p.out, "postgres: started on 127.0.0.1:%d in %s\n", p.state.Port, time.Since(start).Round(100*time.Millisecond))
	return p, nil
}

func (p *Postgres) dataDir() string { return filepath.Join(p.state.Dir, "data") }
func (p *Postgres) logFile() string { return filepath.Join(p.state.Dir, "postgres.log") }

// initdb wipes Dir and creates a cluster owned by the server user.
func (p *Postgres) initdb(ctx context.Context) error {
	if err := sweep(ctx, p.state.Dir); err != nil { // a crashed earlier run
		return fmt.Errorf("postgres: %w", err)
	}
	if err := os.RemoveAll(p.state.Dir); err != nil {
		return fmt.Errorf("postgres: clean %s: %w", p.state.Dir, err)
	}
	// Parents the postgres user must traverse get 0755; MkdirAll with 0700
	// would create them unreachable (and whichever test ran first would
	// decide for every later one).
	if err := os.MkdirAll(filepath.Dir(p.state.Dir), 0o755); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for _, d := range []string{p.state.Dir, p.state.SocketDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if err := chownToServer(d); err != nil {
			return err
		}
	}
	if err := checkReachable(p.state.Dir); err != nil {
		return err
	}
	say(p.out, "postgres: initdb in %s…\n", p.dataDir())
	out, err := p.run(ctx, "initdb", "-D", p.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if err != nil {
		return fmt.Errorf("postgres: initdb: %w\n%s", err, lastLines(out, 20))
	}
	conf := fmt.Sprintf(`
# added by pkg/localstack
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = on
shared_buffers = 256MB
max_connections = 200
log_min_messages = warning
`, p.state.Port, p.state.SocketDir)
	f, err := os.OpenFile(filepath.Join(p.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("postgres: write postgresql.conf: %w", err)
	}
	return nil
}

func (p *Postgres) createAppDB(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.state.Port))
	if err != nil {
		return fmt.Errorf("postgres: connect as postgres: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	for _, q := range []string{
		"CREATE ROLE orderpipe LOGIN CREATEDB",
		"CREATE DATABASE orderpipe OWNER orderpipe",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres: %s: %w", q, err)
		}
	}
	return nil
}

// DSN is the application's connection string (role and database orderpipe).
func (p *Postgres) DSN() string {
	return fmt.Sprintf("postgres://orderpipe@127.0.0.1:%d/orderpipe?sslmode=disable", p.state.Port)
}

// SuperuserDSN connects as the postgres superuser, for tests that need it.
func (p *Postgres) SuperuserDSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/orderpipe?sslmode=disable", p.state.Port)
}

// Port is the TCP port on 127.0.0.1.
func (p *Postgres) Port() int { return p.state.Port }

// PID is the postmaster's pid, or 0 if it is not running.
func (p *Postgres) PID() int {
	if pid := readPid(filepath.Join(p.dataDir(), "postmaster.pid")); ownedBy(pid, p.state.Dir) {
		return pid
	}
	return 0
}

// Start starts the existing cluster on its port (a no-op if it runs) and
// waits until it accepts connections.
func (p *Postgres) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.PID() != 0 {
		return nil
	}
	// Lock files left by a killed server name a dead pid, or a zombie (not yet
	// reaped by init) that PostgreSQL's own check takes for a live postmaster.
	sock := filepath.Join(p.state.SocketDir, fmt.Sprintf(".s.PGSQL.%d", p.state.Port))
	for _, f := range []string{filepath.Join(p.dataDir(), "postmaster.pid"), sock + ".lock", sock} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("postgres: remove stale lock: %w", err)
		}
	}
	out, err := p.run(ctx, "pg_ctl", "-D", p.dataDir(), "-l", p.logFile(), "-w", "-t", "60", "start")
	if err != nil {
		return fmt.Errorf("postgres: pg_ctl start: %w\n%s\n--- tail of %s ---\n%s", err, lastLines(out, 10), p.logFile(), tail(p.logFile(), 20))
	}
	return nil
}

// Stop shuts down cleanly (pg_ctl stop -m fast), killing it if that fails.
func (p *Postgres) Stop(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pid := p.PID()
	if pid == 0 {
		return nil
	}
	if _, err := p.run(ctx, "pg_ctl", "-D", p.dataDir(), "-m", "fast", "-w", "-t", "30", "stop"); err == nil {
		waitGone(ctx, 5*time.Second, pid)
	}
	return p.killAll(ctx)
}

// Kill crashes the server: SIGKILL to the postmaster and all its backends.
func (p *Postgres) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pid := p.PID(); pid != 0 {
		signalGroup(pid, syscall.SIGKILL)
	}
	return p.killAll(context.Background())
}

// killAll kills whatever server process is left in Dir and waits for it.
func (p *Postgres) killAll(ctx context.Context) error {
	for range 50 {
		pids := strays(p.state.Dir)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		waitGone(ctx, 200*time.Millisecond, pids...)
	}
	return fmt.Errorf("postgres: processes still running in %s: %v", p.state.Dir, strays(p.state.Dir))
}

// run runs a PostgreSQL binary as the server user and returns its output.
func (p *Postgres) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.state.BinDir, name), args...)
	cmd.Dir = p.state.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = 5 * time.Second
	cred, err := serverCredential()
	if err != nil {
		return "", err
	}
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// serverCredential is the postgres OS user when we are root, else nil (run as
// ourselves).
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres: running as root needs the postgres OS user (Debian package postgresql): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chownToServer(path string) error {
	cred, err := serverCredential()
	if err != nil || cred == nil {
		return err
	}
	if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("postgres: chown %s: %w", path, err)
	}
	return nil
}

// checkReachable fails clearly when the postgres user cannot reach dir
// because an ancestor lacks the execute bit for others (e.g. /root).
func checkReachable(dir string) error {
	cred, err := serverCredential()
	if err != nil || cred == nil {
		return err
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		others := fi.Mode().Perm()&0o001 != 0
		group := st.Gid == cred.Gid && fi.Mode().Perm()&0o010 != 0
		if !others && !group && st.Uid != cred.Uid {
			return fmt.Errorf("postgres: the postgres user cannot enter %s (mode %v): put the stack dir elsewhere, e.g. under /tmp", d, fi.Mode().Perm())
		}
		if d == "/" || !strings.Contains(d, "/") {
			return nil
		}
	}
}
