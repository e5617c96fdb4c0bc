package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/server"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// refusedDir, set, is the directory the test binary runs a case of
// TestHealthzEmbeddedRefusesWrites in, in a process of its own: a
// namespace, or a limit on its files, must not touch the other tests.
const refusedDir = "SWITCHMAN_TEST_REFUSED_DIR"

// refusedCase is a way for the kernel to refuse the embedded store's
// writes while its file still answers reads.
type refusedCase struct {
	name  string
	errno syscall.Errno
	// attr is that of the process the case runs in.
	attr *syscall.SysProcAttr
	// prepare readies dir before the store is opened in it.
	prepare func(t *testing.T, dir string)
	// refuse makes the writes that grow the store fail from the moment
	// it returns; allow lets them succeed again.
	refuse func(t *testing.T, dir string) (allow func())
}

// refusedCases: a full disk is a small tmpfs, mounted in a user and mount
// namespace of the test's own; a file-size limit (systemd's LimitFSIZE)
// is RLIMIT_FSIZE, with SIGXFSZ ignored, as the kernel then fails the
// file's growth (bbolt's resize) with EFBIG rather than kill the process.
var refusedCases = []refusedCase{
	{
		name:  "full_disk",
		errno: syscall.ENOSPC,
		attr: &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		},
		prepare: func(t *testing.T, dir string) {
			if err := syscall.Mount("switchman-full", dir, "tmpfs", 0, "size=512k,mode=0700"); err != nil {
				t.Fatalf("mount a tmpfs in a user namespace (unshare -Urm must work here): %v", err)
			}
		},
		refuse: func(t *testing.T, dir string) func() {
			// Room to free once the store has filled the rest.
			spare := filepath.Join(dir, "spare")
			if err := os.WriteFile(spare, make([]byte, 128<<10), 0o600); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := os.Remove(spare); err != nil {
					t.Fatal(err)
				}
			}
		},
	},
	{
		name:    "file_size_limit",
		errno:   syscall.EFBIG,
		prepare: func(*testing.T, string) {},
		refuse: func(t *testing.T, dir string) func() {
			signal.Ignore(syscall.SIGXFSZ)
			var was syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
				t.Fatal(err)
			}
			limit := was
			limit.Cur = 1 << 20
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
					t.Fatal(err)
				}
			}
		},
	},
}

// TestHealthzEmbeddedRefusesWrites: with the embedded store's writes
// refused by the kernel (a full disk, a file-size limit on the process),
// whose file still answers reads, /healthz says the store refuses writes
// and why (503, "refuses_writes", "ENOSPC" or "EFBIG"), as it does for a
// Redis at maxmemory, not "ok" while every command that records fails;
// a small write that still fits in pages bbolt freed within the file
// (a lock) leaves it so, as deploy records and audit entries are still
// refused; its own write, tried at most once every embedded.ProbeEvery,
// is refused as long as the command's would be. Once space is freed or
// the limit lifted it says "ok" after a command's write as large as the
// refused one, or with no other write, as an idle bot makes none, after
// its own. Each case runs in a process of its own, so that the writes
// fail with the kernel's own error.
func TestHealthzEmbeddedRefusesWrites(t *testing.T) {
	for _, tc := range refusedCases {
		for _, byCommand := range []bool{false, true} {
			name := tc.name + "/idle"
			if byCommand {
				name = tc.name + "/command_write"
			}
			t.Run(name, func(t *testing.T) {
				if dir := os.Getenv(refusedDir); dir != "" {
					healthzRefused(t, tc, dir, byCommand)
					return
				}
				pattern := strings.ReplaceAll(name, "/", "$/^")
				cmd := exec.Command(os.Args[0], "-test.run=^TestHealthzEmbeddedRefusesWrites$/^"+pattern+"$", "-test.v")
				cmd.Env = append(os.Environ(), refusedDir+"="+t.TempDir())
				cmd.SysProcAttr = tc.attr
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("the part in a process of its own: %v\n%s", err, out)
				}
				if !strings.Contains(string(out), "--- PASS: TestHealthzEmbeddedRefusesWrites/"+name) {
					t.Fatalf("the part in a process of its own did not run:\n%s", out)
				}
			})
		}
	}
}

// healthzRefused runs tc in a process of its own, with the store in dir;
// once writes are allowed again, a command's write as large as the
// refused one is made when byCommand, none otherwise.
func healthzRefused(t *testing.T, tc refusedCase, dir string, byCommand bool) {
	tc.prepare(t, dir)
	// The store's clock, moved on by the test alone, says when /healthz
	// may try a write again.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	later := func() { clock.Add(int64(embedded.ProbeEvery)) }
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	healthz := func() (int, map[string]string) {
		t.Helper()
		return embeddedHealthz(t, st)
	}
	if code, body := healthz(); code != http.StatusOK || body["store"] != "ok" {
		t.Fatalf("/healthz before writes are refused: got %d %v, want 200 store ok", code, body)
	}
	allow := tc.refuse(t, dir)
	big := strings.Repeat("x", 16<<10)
	var refused error
	for i := 0; refused == nil; i++ {
		if i > 1000 {
			t.Fatal("1000 audit entries of 16 KiB were all written")
		}
		refused = st.AppendAudit(ctx, &audit.Entry{Time: time.Now(), User: "ana", Command: big, Decision: audit.Allowed})
	}
	if !errors.Is(refused, deploy.ErrStoreFull) || !errors.Is(refused, tc.errno) {
		t.Fatalf("the write refused: got %v, want deploy.ErrStoreFull wrapping %v", refused, tc.errno)
	}
	if _, err := st.Locks(ctx); err != nil {
		t.Fatalf("a read while writes are refused: %v; want it answered", err)
	}
	want := map[string]string{"status": "unavailable", "store": "refuses_writes", "store_error": errnoName(tc.errno)}
	refusing := func(when string) {
		t.Helper()
		code, body := healthz()
		if code != http.StatusServiceUnavailable || len(body) != len(want) || body["status"] != want["status"] || body["store"] != want["store"] || body["store_error"] != want["store_error"] {
			t.Errorf("/healthz %s: got %d %v, want 503 %v", when, code, body, want)
		}
	}
	refusing("while writes are refused")
	// Pages freed within the file take a lock without the disk giving
	// more room, or the file growing.
	if err := st.PutLock(ctx, deploy.Lock{App: "web", Env: "production", Owner: "ana", Reason: "db maintenance", Created: time.Now()}); err != nil {
		t.Fatalf("a lock while larger writes are refused: %v; want it written in pages freed within the file", err)
	}
	refusing("after a lock was written, while larger writes are still refused")
	if err := st.AppendAudit(ctx, &audit.Entry{Time: time.Now(), User: "ana", Command: big, Decision: audit.Allowed}); !errors.Is(err, deploy.ErrStoreFull) {
		t.Fatalf("the refused write again, after the lock: got %v, want deploy.ErrStoreFull", err)
	}
	later()
	refusing("while writes are refused, its own write refused too")
	allow()
	if byCommand {
		if err := st.AppendAudit(ctx, &audit.Entry{Time: time.Now(), User: "ana", Command: big, Decision: audit.Allowed}); err != nil {
			t.Fatalf("the refused write once writes are allowed again: %v", err)
		}
		if code, body := healthz(); code != http.StatusOK || body["store"] != "ok" {
			t.Errorf("/healthz once the refused write succeeded, within ProbeEvery of its last try: got %d %v, want 200 store ok", code, body)
		}
		return
	}
	// Nothing but /healthz writes from here: an idle bot's.
	refusing("once writes are allowed again, within ProbeEvery of its last try")
	later()
	if code, body := healthz(); code != http.StatusOK || body["store"] != "ok" {
		t.Errorf("/healthz once writes are allowed again, ProbeEvery after its last try: got %d %v, want 200 store ok", code, body)
	}
	if err := st.AppendAudit(ctx, &audit.Entry{Time: time.Now(), User: "ana", Command: "lock web", Decision: audit.Allowed}); err != nil {
		t.Fatalf("a write once /healthz said ok: %v", err)
	}
	if code, body := healthz(); code != http.StatusOK || body["store"] != "ok" {
		t.Errorf("/healthz once a write succeeded again: got %d %v, want 200 store ok", code, body)
	}
}

// embeddedHealthz answers /healthz of a bot with the embedded store st.
func embeddedHealthz(t *testing.T, st *embedded.Store) (int, map[string]string) {
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

// errnoName is the code /healthz names errno by.
func errnoName(errno syscall.Errno) string {
	switch errno {
	case syscall.ENOSPC:
		return "ENOSPC"
	case syscall.EFBIG:
		return "EFBIG"
	}
	return errno.Error()
}
