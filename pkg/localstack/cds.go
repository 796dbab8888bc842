package localstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// cdsArchive is the JVM class-data-sharing archive beside the lib dir. Brokers
// started with it load their ~8k classes from a mapped file: about a second
// less CPU per broker start, which matters on a 2-core machine starting 3.
func cdsArchive(libDir string) string { return filepath.Join(filepath.Dir(libDir), "kafka.jsa") }

// ensureCDSArchive builds the archive once by starting a throwaway single
// broker with -XX:ArchiveClassesAtExit and stopping it cleanly. Failing to
// build it is not fatal: brokers then start without it. Callers hold the
// jar lock.
func ensureCDSArchive(ctx context.Context, libDir string, out io.Writer) {
	archive := cdsArchive(libDir)
	if _, err := os.Stat(archive); err == nil {
		return
	}
	start := time.Now()
	say(out, "kafka: building a class-data archive for faster broker starts…\n")
	if err := buildCDSArchive(ctx, libDir, archive); err != nil {
		say(out, "kafka: no class-data archive (brokers start a little slower): %v\n", err)
		if ctx.Err() == nil { // a real failure: don't retry on every start
			_ = os.WriteFile(archive+".failed", []byte(err.Error()+"\n"), 0o644)
		}
		return
	}
	say(out, "kafka: class-data archive ready in %s\n", time.Since(start).Round(100*time.Millisecond))
}

func buildCDSArchive(ctx context.Context, libDir, archive string) error {
	dir := filepath.Join(filepath.Dir(libDir), "cds-build")
	defer func() { _ = os.RemoveAll(dir) }()
	tmp := archive + ".tmp"
	_ = os.Remove(tmp)
	k, err := StartKafka(ctx, KafkaOptions{Dir: dir, LibDir: libDir, ReadyTimeout: 60 * time.Second,
		jvmArgs: []string{"-XX:ArchiveClassesAtExit=" + tmp}})
	if err != nil {
		return err
	}
	if err := k.Stop(ctx); err != nil {
		return err
	}
	if _, err := os.Stat(tmp); err != nil {
		return fmt.Errorf("JVM wrote no archive: %w; %s", err, strings.TrimSpace(tail(k.logFile(0), 3)))
	}
	return os.Rename(tmp, archive)
}
