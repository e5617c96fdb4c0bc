package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// unmappedDir, set, is the directory the test binary runs
// TestHealthzEmbeddedUnmapped in, in a process of its own: the limit on
// its address space must not touch the other tests.
const unmappedDir = "SWITCHMAN_TEST_UNMAPPED_DIR"

// TestHealthzEmbeddedUnmapped: once bbolt could not map the embedded
// store's file anew as it grew (the kernel refusing the mapping, here for
// a limit on the process's address space, systemd's LimitAS), every
// transaction is refused until the file is opened again. /healthz says so
// (503, "unmapped", "ENOMEM"), and the refusal people are told says to
// restart the bot, not that a local file is unreachable; lifting the
// limit changes nothing, and a restart (the store opened again) gives a
// store that answers, with every write made before it.
func TestHealthzEmbeddedUnmapped(t *testing.T) {
	if dir := os.Getenv(unmappedDir); dir != "" {
		healthzUnmapped(t, dir)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHealthzEmbeddedUnmapped$", "-test.v")
	cmd.Env = append(os.Environ(), unmappedDir+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the part in a process of its own: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestHealthzEmbeddedUnmapped") {
		t.Fatalf("the part in a process of its own did not run:\n%s", out)
	}
}

// healthzUnmapped runs TestHealthzEmbeddedUnmapped in a process of its
// own, with the store in dir.
func healthzUnmapped(t *testing.T, dir string) {
	path := filepath.Join(dir, "state.db")
	st, err := embedded.Open(path, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	ctx := context.Background()
	entry := func(command string) *audit.Entry {
		return &audit.Entry{Time: time.Now(), User: "ana", Command: command, Decision: audit.Allowed}
	}
	// bbolt maps the file in sizes that double, and undoes the mapping
	// before it makes the larger one. The mapping is grown to 32 MiB
	// before the limit is set (the file then passes 16 MiB, bbolt's
	// AllocSize, which it grows by once its mapping is larger), and the
	// limit leaves less room than the next mapping adds: the writes up
	// to it use the room the heap and the threads keep from the writes
	// before it, and the race detector's shadow of them.
	big := strings.Repeat("x", 1<<20)
	written := 0
	for size := int64(0); size <= 16<<20; written++ {
		if err := st.AppendAudit(ctx, entry(big)); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		size = info.Size()
	}
	// The heap is grown, and given back, before the limit, so that the
	// writes under it find the address space they allocate in already
	// reserved: a heap arena reserved under the limit would fail the
	// runtime, not the mapping.
	func() {
		reserve := make([]byte, 128<<20)
		for i := 0; i < len(reserve); i += 4096 {
			reserve[i] = 1
		}
	}()
	runtime.GC()
	debug.FreeOSMemory()
	if code, body := embeddedHealthz(t, st); code != http.StatusOK || body["store"] != "ok" {
		t.Fatalf("/healthz before the mapping failed: got %d %v, want 200 store ok", code, body)
	}
	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &was); err != nil {
		t.Fatal(err)
	}
	limit := was
	limit.Cur = addressSpace(t) + 24<<20
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &limit); err != nil {
		t.Fatal(err)
	}
	var refused error
	for refused == nil && written < 1024 {
		if refused = st.AppendAudit(ctx, entry(big)); refused == nil {
			written++
		}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &was); err != nil {
		t.Fatal(err)
	}
	if refused == nil {
		t.Fatalf("%d audit entries of 1 MiB were all written, the last ones with 24 MiB more address space than the mapping of 32 MiB had", written)
	}
	const restart = "is no longer mapped in memory: mapping it anew failed as it grew (cannot allocate memory): restart the bot, which maps it again; nothing was changed"
	if got := errs.Message(deploy.StoreRefused(refused)); got != "state store "+path+" "+restart {
		t.Errorf("the write whose mapping failed, as people are told: got %q, want %q", got, "state store "+path+" "+restart)
	}
	// The write was rolled back: not an outcome left unknown.
	if got := deploy.OutcomeUnknown(refused, "whether it was written", "look"); errors.Is(got, deploy.ErrOutcomeUnknown) || errs.Message(got) != "state store "+path+" "+restart {
		t.Errorf("the write whose mapping failed, as people are told of a write: got %q, want %q", errs.Message(got), "state store "+path+" "+restart)
	}
	// The limit is lifted: bbolt maps the file again only when it opens
	// it.
	if err := st.AppendAudit(ctx, entry("lock web")); err == nil || errs.Message(deploy.StoreRefused(err)) != "state store "+path+" "+restart {
		t.Errorf("a write after the mapping failed: got %v, want %q", err, "state store "+path+" "+restart)
	}
	if _, err := st.Locks(ctx); err == nil || errs.Message(deploy.StoreRefused(err)) != "state store "+path+" "+restart {
		t.Errorf("a read after the mapping failed: got %v, want %q", err, "state store "+path+" "+restart)
	}
	// Tries seconds apart would be refused the same way, and only hold
	// the reply back.
	tries := 0
	appender := appenderFunc(func(ctx context.Context, e *audit.Entry) error { tries++; return st.AppendAudit(ctx, e) })
	if err := audit.Append(ctx, appender, entry("lock web")); !errors.Is(err, deploy.ErrStoreUnusable) || tries != 1 {
		t.Errorf("an audit entry after the mapping failed: got %v after %d tries, want the store unusable after 1", err, tries)
	}
	want := map[string]string{"status": "unavailable", "store": "unmapped", "store_error": "ENOMEM"}
	if code, body := embeddedHealthz(t, st); code != http.StatusServiceUnavailable || len(body) != len(want) || body["status"] != want["status"] || body["store"] != want["store"] || body["store_error"] != want["store_error"] {
		t.Errorf("/healthz after the mapping failed: got %d %v, want 503 %v", code, body, want)
	}

	// A restart.
	if err := st.Close(); err != nil {
		t.Fatalf("close the store whose mapping failed: %v", err)
	}
	if st, err = embedded.Open(path, embedded.Options{}); err != nil {
		t.Fatalf("open the store again: %v", err)
	}
	if code, body := embeddedHealthz(t, st); code != http.StatusOK || body["store"] != "ok" {
		t.Errorf("/healthz once the store was opened again: got %d %v, want 200 store ok", code, body)
	}
	entries, err := st.Audit(ctx, audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != written {
		t.Errorf("audit entries once the store was opened again: got %d, want the %d written", len(entries), written)
	}
	if err := st.AppendAudit(ctx, entry("lock web")); err != nil {
		t.Errorf("a write once the store was opened again: %v", err)
	}
}

// appenderFunc is a function that appends audit entries.
type appenderFunc func(ctx context.Context, e *audit.Entry) error

func (f appenderFunc) AppendAudit(ctx context.Context, e *audit.Entry) error { return f(ctx, e) }

// addressSpace is the size of the process's address space (VmSize), which
// RLIMIT_AS bounds.
func addressSpace(t *testing.T) uint64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmSize:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmSize %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmSize in /proc/self/status:\n%s", status)
	return 0
}
