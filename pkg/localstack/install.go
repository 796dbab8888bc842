package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// KafkaVersion is the Apache Kafka release the jars are resolved for.
// Keep it in step with kafka.version in deploy/local/kafka/pom.xml.
const KafkaVersion = "4.4.0"

const jarsMarker = ".complete"

// EnsureKafkaJars resolves the Kafka broker jars from Maven Central into
// <root>/.cache/kafka/<version>/lib with deploy/local/kafka/pom.xml, unless a
// previous run completed (marker file). It returns the lib directory.
func EnsureKafkaJars(ctx context.Context, root string, out io.Writer) (string, error) {
	out = outOrDiscard(out)
	pom := filepath.Join(root, "deploy", "local", "kafka", "pom.xml")
	libDir := filepath.Join(root, ".cache", "kafka", KafkaVersion, "lib")
	if err := copyLog4jConfig(root, filepath.Dir(libDir)); err != nil {
		return "", err
	}
	if jarsReady(libDir) {
		return libDir, nil
	}
	// Parallel test binaries may get here at once: one resolves, the rest wait.
	unlock, err := lockFile(ctx, filepath.Dir(libDir)+".lock")
	if err != nil {
		return "", fmt.Errorf("kafka jars: %w", err)
	}
	defer unlock()
	if jarsReady(libDir) {
		return libDir, nil
	}
	if err := fetchJars(ctx, root, pom, libDir, out); err != nil {
		return "", err
	}
	ensureCDSArchive(ctx, libDir, out)
	return libDir, nil
}

// jarsReady: the jars are complete and the class-data archive was built (or
// failed to build once: no retry on every call).
func jarsReady(libDir string) bool {
	if _, err := os.Stat(filepath.Join(libDir, jarsMarker)); err != nil {
		return false
	}
	_, err1 := os.Stat(cdsArchive(libDir))
	_, err2 := os.Stat(cdsArchive(libDir) + ".failed")
	return err1 == nil || err2 == nil
}

// fetchJars runs maven unless the jars are complete.
func fetchJars(ctx context.Context, root, pom, libDir string, out io.Writer) error {
	if _, err := os.Stat(filepath.Join(libDir, jarsMarker)); err == nil {
		return nil
	}
	if _, err := os.Stat(pom); err != nil {
		return fmt.Errorf("kafka jars: %w", err)
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return fmt.Errorf("kafka jars: maven (mvn) not found: %w", err)
	}
	if _, err := exec.LookPath(javaPath()); err != nil {
		return fmt.Errorf("kafka jars: java not found (Kafka %s needs Java 17+): %w", KafkaVersion, err)
	}
	say(out, "kafka: fetching Apache Kafka %s jars from Maven Central into %s…\n", KafkaVersion, libDir)
	start := time.Now()
	// Resolve into a temporary dir, then rename: a half-done download never
	// looks complete, and a stale jar from an older pom never lingers.
	tmp := libDir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("kafka jars: %w", err)
	}
	cmd := exec.CommandContext(ctx, mvn, "-q", "-B", "-f", pom,
		"dependency:copy-dependencies", "-DoutputDirectory="+tmp)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kafka jars: mvn dependency:copy-dependencies: %w\n%s", err, lastLines(string(b), 30))
	}
	jars, _ := filepath.Glob(filepath.Join(tmp, "*.jar"))
	if len(jars) == 0 {
		return fmt.Errorf("kafka jars: maven copied no jars into %s", tmp)
	}
	if err := os.WriteFile(filepath.Join(tmp, jarsMarker), []byte(KafkaVersion+"\n"), 0o644); err != nil {
		return fmt.Errorf("kafka jars: %w", err)
	}
	if err := os.RemoveAll(libDir); err != nil {
		return fmt.Errorf("kafka jars: %w", err)
	}
	_ = os.Remove(cdsArchive(libDir)) // built from the old jars
	_ = os.Remove(cdsArchive(libDir) + ".failed")
	if err := os.Rename(tmp, libDir); err != nil {
		return fmt.Errorf("kafka jars: %w", err)
	}
	say(out, "kafka: %d jars ready in %s\n", len(jars), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// copyLog4jConfig refreshes <cache>/kafka/<version>/log4j2.yaml from
// deploy/local/kafka/log4j2.yaml, where StartKafka looks for it by default.
func copyLog4jConfig(root, versionDir string) error {
	b, err := os.ReadFile(filepath.Join(root, "deploy", "local", "kafka", "log4j2.yaml"))
	if err != nil {
		return fmt.Errorf("kafka log4j2 config: %w", err)
	}
	if err := os.MkdirAll(versionDir, 0o755); err != nil {
		return fmt.Errorf("kafka log4j2 config: %w", err)
	}
	// Atomic replace: brokers of other stacks may be reading it right now.
	if err := writeFileAtomic(filepath.Join(versionDir, "log4j2.yaml"), b); err != nil {
		return fmt.Errorf("kafka log4j2 config: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// lockFile takes an exclusive flock on path (created if needed), polling so
// that ctx can cancel the wait.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
}

// EnsurePackages installs the Debian packages redis-server and postgresql when
// their binaries are missing. It needs root. The services the packages start
// by default (port 6379, cluster 15/main on 5432) are not used: every stack
// runs its own instances, and the install blocks service starts while it runs.
func EnsurePackages(ctx context.Context, out io.Writer) error {
	out = outOrDiscard(out)
	var missing []string
	if _, err := redisServerPath(); err != nil {
		missing = append(missing, "redis-server")
	}
	if _, err := pgBinDir(); err != nil {
		missing = append(missing, "postgresql")
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("packages %s are missing and installing them needs root: run `sudo apt-get install -y %s`",
			strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	say(out, "packages: installing %s with apt-get…\n", strings.Join(missing, " "))
	start := time.Now()
	restore, err := blockServiceStarts()
	if err != nil {
		return err
	}
	defer restore()
	if err := aptUpdate(ctx); err != nil {
		return err
	}
	args := append([]string{"-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends"}, missing...)
	if err := apt(ctx, args...); err != nil {
		return err
	}
	if _, err := redisServerPath(); err != nil {
		return fmt.Errorf("packages: installed, but %w", err)
	}
	if _, err := pgBinDir(); err != nil {
		return fmt.Errorf("packages: installed, but %w", err)
	}
	say(out, "packages: installed %s in %s\n", strings.Join(missing, " "), time.Since(start).Round(100*time.Millisecond))
	return nil
}

var (
	aptUpdateMu   sync.Mutex
	aptUpdateDone bool
)

// aptUpdate runs apt-get update once per process.
func aptUpdate(ctx context.Context) error {
	aptUpdateMu.Lock()
	defer aptUpdateMu.Unlock()
	if aptUpdateDone {
		return nil
	}
	if err := apt(ctx, "-o", "DPkg::Lock::Timeout=300", "update"); err != nil {
		return err
	}
	aptUpdateDone = true
	return nil
}

func apt(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, lastLines(string(b), 30))
	}
	return nil
}

// blockServiceStarts installs a policy-rc.d that refuses service starts
// (exit 101) for the duration of the install, unless one already exists.
func blockServiceStarts() (restore func(), err error) {
	const path = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(path); err == nil {
		return func() {}, nil
	}
	script := "#!/bin/sh\n# temporary, written by orderpipe localstack during apt-get install\nexit 101\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return nil, fmt.Errorf("packages: block service starts: %w", err)
	}
	return func() { _ = os.Remove(path) }, nil
}

// redisServerPath finds the redis-server binary.
func redisServerPath() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	return "", errors.New("redis-server not found (Debian package redis-server)")
}

// pgBinDir finds the newest PostgreSQL server bin dir (initdb, pg_ctl, postgres):
// /usr/lib/postgresql/<major>/bin on Debian, else the directory of pg_ctl on PATH.
func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if hasAll(d, "initdb", "pg_ctl", "postgres") {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found (Debian package postgresql)")
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func hasAll(dir string, names ...string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil { //nolint:gosec // stats binaries in known dirs or $JAVA_HOME, the operator's own setting
			return false
		}
	}
	return true
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
