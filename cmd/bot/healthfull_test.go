package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/server"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// fullDiskDir, set, is the directory the test binary runs
// TestHealthzEmbeddedDiskFull's part in a namespace of its own for.
const fullDiskDir = "SWITCHMAN_TEST_FULL_DISK_DIR"

// TestHealthzEmbeddedDiskFull: with the embedded store on a full disk,
// whose file still answers reads, /healthz says the store refuses writes
// and why (503, "refuses_writes", "ENOSPC"), as it does for a Redis at
// maxmemory, not "ok" while every command that records fails; once a
// write succeeds again it says "ok". The disk is a small tmpfs, mounted
// in a user and mount namespace of the test's own, so that the writes
// fail with the kernel's own ENOSPC.
func TestHealthzEmbeddedDiskFull(t *testing.T) {
	if dir := os.Getenv(fullDiskDir); dir != "" {
		healthzDiskFull(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHealthzEmbeddedDiskFull$", "-test.v")
	cmd.Env = append(os.Environ(), fullDiskDir+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the part on a full disk: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestHealthzEmbeddedDiskFull") {
		t.Fatalf("the part on a full disk did not run:\n%s", out)
	}
}

// healthzDiskFull runs in a namespace of its own, where it mounts a
// small tmpfs on dir.
func healthzDiskFull(t *testing.T, dir string) {
	if err := syscall.Mount("switchman-full", dir, "tmpfs", 0, "size=512k,mode=0700"); err != nil {
		t.Fatalf("mount a tmpfs in a user namespace (unshare -Urm must work here): %v", err)
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	healthz := func() (int, map[string]string) {
		t.Helper()
		srv := server.New(server.Options{Health: func(ctx context.Context) error { return storeHealth(ctx, false, st) }})
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("/healthz body %q: %v", rec.Body, err)
		}
		return rec.Code, body
	}
	if code, body := healthz(); code != http.StatusOK || body["store"] != "ok" {
		t.Fatalf("/healthz before the disk is full: got %d %v, want 200 store ok", code, body)
	}
	// Room to free once the store has filled the rest.
	spare := filepath.Join(dir, "spare")
	if err := os.WriteFile(spare, make([]byte, 128<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 16<<10)
	var full error
	for i := 0; full == nil; i++ {
		if i > 1000 {
			t.Fatal("1000 audit entries of 16 KiB fit in a tmpfs of 512 KiB")
		}
		full = st.AppendAudit(ctx, &audit.Entry{Time: time.Now(), User: "ana", Command: big, Decision: audit.Allowed})
	}
	if !errors.Is(full, deploy.ErrStoreFull) || !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("the write that filled the disk: got %v, want deploy.ErrStoreFull wrapping ENOSPC", full)
	}
	if _, err := st.Locks(ctx); err != nil {
		t.Fatalf("a read on the full disk: %v; want it answered", err)
	}
	code, body := healthz()
	want := map[string]string{"status": "unavailable", "store": "refuses_writes", "store_error": "ENOSPC"}
	if code != http.StatusServiceUnavailable || len(body) != len(want) || body["status"] != want["status"] || body["store"] != want["store"] || body["store_error"] != want["store_error"] {
		t.Errorf("/healthz on a full disk: got %d %v, want 503 %v", code, body, want)
	}
	if err := os.Remove(spare); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAudit(ctx, &audit.Entry{Time: time.Now(), User: "ana", Command: "lock web", Decision: audit.Allowed}); err != nil {
		t.Fatalf("a write once there is room: %v", err)
	}
	if code, body := healthz(); code != http.StatusOK || body["store"] != "ok" {
		t.Errorf("/healthz once a write succeeded again: got %d %v, want 200 store ok", code, body)
	}
}
