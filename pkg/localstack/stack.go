package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// StackOptions configures Up.
type StackOptions struct {
	Dir          string // stack dir, e.g. <root>/.local/test; holds kafka/, postgres/, redis/, stack.json
	Root         string // repo root (for the pom and the jar cache); default RepoRoot()
	KafkaBrokers int    // 1 (default) or 3
	KafkaHeapMB  int    // default 512
	NoKafka      bool   // only PostgreSQL and Redis
	Out          io.Writer
}

// Stack is a running Kafka (unless NoKafka), PostgreSQL and Redis.
type Stack struct {
	Dir      string
	Kafka    *Kafka // nil with NoKafka
	Postgres *Postgres
	Redis    *Redis
}

// stackState is stack.json.
type stackState struct {
	Kafka    *kafkaState    `json:",omitempty"`
	Postgres *postgresState `json:",omitempty"`
	Redis    *redisState    `json:",omitempty"`
	Env      map[string]string
}

const stateFile = "stack.json"

// Up installs what is missing, stops whatever a previous run left in
// opts.Dir, and starts fresh servers there (in parallel), recording them in
// <Dir>/stack.json for Load and Down.
func Up(ctx context.Context, opts StackOptions) (*Stack, error) {
	out := &syncWriter{w: outOrDiscard(opts.Out)}
	dir, err := absDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	if opts.Root == "" {
		if opts.Root, err = RepoRoot(); err != nil {
			return nil, fmt.Errorf("stack: %w", err)
		}
	}
	start := time.Now()
	if err := Down(ctx, dir); err != nil {
		return nil, fmt.Errorf("stack: clean up previous run: %w", err)
	}
	if err := EnsurePackages(ctx, out); err != nil {
		return nil, err
	}
	var libDir string
	if !opts.NoKafka {
		if libDir, err = EnsureKafkaJars(ctx, opts.Root, out); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	s := &Stack{Dir: dir}
	var wg sync.WaitGroup
	var errK, errP, errR error
	if !opts.NoKafka {
		wg.Go(func() {
			s.Kafka, errK = StartKafka(ctx, KafkaOptions{Dir: filepath.Join(dir, "kafka"), LibDir: libDir,
				Brokers: opts.KafkaBrokers, HeapMB: opts.KafkaHeapMB, Out: out})
		})
	}
	wg.Go(func() {
		s.Postgres, errP = StartPostgres(ctx, PostgresOptions{Dir: filepath.Join(dir, "postgres"), Out: out})
	})
	wg.Go(func() { s.Redis, errR = StartRedis(ctx, RedisOptions{Dir: filepath.Join(dir, "redis"), Out: out}) })
	wg.Wait()
	if err := errors.Join(errK, errP, errR); err != nil {
		_ = s.Down(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := s.save(); err != nil {
		_ = s.Down(context.WithoutCancel(ctx))
		return nil, err
	}
	say(out, "stack: up in %s (state %s)\n", time.Since(start).Round(100*time.Millisecond), filepath.Join(dir, stateFile))
	return s, nil
}

// Env gives the connection settings: KAFKA_BROKERS (unless NoKafka),
// DATABASE_URL and REDIS_URL.
func (s *Stack) Env() map[string]string {
	env := map[string]string{}
	if s.Kafka != nil {
		env["KAFKA_BROKERS"] = s.Kafka.Bootstrap()
	}
	if s.Postgres != nil {
		env["DATABASE_URL"] = s.Postgres.DSN()
	}
	if s.Redis != nil {
		env["REDIS_URL"] = s.Redis.URL()
	}
	return env
}

func (s *Stack) save() error {
	st := stackState{Env: s.Env()}
	if s.Kafka != nil {
		st.Kafka = &s.Kafka.state
	}
	if s.Postgres != nil {
		st.Postgres = &s.Postgres.state
	}
	if s.Redis != nil {
		st.Redis = &s.Redis.state
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	tmp := filepath.Join(s.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("stack: write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.Dir, stateFile)); err != nil {
		return fmt.Errorf("stack: write state: %w", err)
	}
	return nil
}

// Load attaches to the stack recorded in dir/stack.json (started by Up, maybe
// in another process), e.g. to kill and restart its servers in a test.
func Load(dir string) (*Stack, error) {
	dir, err := absDir(dir)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	var st stackState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("stack: parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	s := &Stack{Dir: dir}
	if st.Kafka != nil {
		s.Kafka = &Kafka{state: *st.Kafka, out: io.Discard}
	}
	if st.Postgres != nil {
		s.Postgres = &Postgres{state: *st.Postgres, out: io.Discard}
	}
	if st.Redis != nil {
		s.Redis = &Redis{state: *st.Redis, out: io.Discard}
	}
	return s, nil
}

// Down stops every server of the stack (clean stops first, then SIGKILL),
// waits until none is left and removes stack.json. Data dirs stay for
// inspection; the next Up wipes them.
func (s *Stack) Down(ctx context.Context) error {
	var errs []error
	if s.Kafka != nil {
		errs = append(errs, s.Kafka.Stop(ctx))
	}
	if s.Postgres != nil {
		errs = append(errs, s.Postgres.Stop(ctx))
	}
	if s.Redis != nil {
		errs = append(errs, s.Redis.Stop(ctx))
	}
	errs = append(errs, sweep(ctx, s.Dir))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.Dir, stateFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stack: %w", err)
	}
	return nil
}

// Down stops whatever runs from dir: the servers recorded in its stack.json,
// and then any server process still working inside dir (a run that crashed
// before writing stack.json). Nothing running is not an error.
func Down(ctx context.Context, dir string) error {
	dir, err := absDir(dir)
	if err != nil {
		return fmt.Errorf("stack down: %w", err)
	}
	s, err := Load(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return sweep(ctx, dir)
	case err != nil:
		return errors.Join(err, sweep(ctx, dir))
	}
	if err := s.Down(ctx); err != nil {
		return fmt.Errorf("stack down: %w", err)
	}
	return nil
}

// sweep kills every java, postgres or redis-server process working inside dir.
func sweep(ctx context.Context, dir string) error {
	for range 20 {
		pids := strays(dir)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		waitGone(ctx, time.Second, pids...)
	}
	return fmt.Errorf("stack: processes still running in %s: %v", dir, strays(dir))
}
