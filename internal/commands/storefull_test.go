package commands_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// useStore has the fixture's service and engine keep their state in st.
func (f *serviceFixture) useStore(st *embedded.Store) {
	f.t.Helper()
	eng := deploy.NewEngine(deploy.Options{Config: f.cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}}, Store: st, Leases: st, Locks: st})
	f.t.Cleanup(eng.Wait)
	f.store, f.eng = st, eng
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: eng, Store: st, Policy: f.policy})
}

// smallDisk mounts a file system of 1 MiB at a new directory, unmounted
// when the test ends, and returns the directory. It needs root.
func smallDisk(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s (needs root): %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill takes every free byte of the file system holding dir with the
// file dir/fill.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestStoreDiskFull: the disk of the embedded store is full, and the
// store's file has no free page left for a lock's write. The lock is
// refused, and the reply, like the one saying the command could not be
// audited, names the file and its full disk rather than an unreachable
// store. Once space is freed nothing has been tried again by itself, and
// the lock is taken when asked again.
func TestStoreDiskFull(t *testing.T) {
	f := newServiceFixture(t)
	disk := smallDisk(t)
	st, err := embedded.Open(filepath.Join(disk, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.useStore(st)
	fill(t, disk)
	// Entries that need pages of their own use up the file's free pages,
	// until it must grow.
	var werr error
	for i := 0; werr == nil && i < 1000; i++ {
		werr = st.AppendAudit(t.Context(), &audit.Entry{User: "ana", Command: strings.Repeat("x", 8<<10)})
	}
	if !errors.Is(werr, deploy.ErrStoreFull) {
		t.Fatalf("writes to the full store: got %v, want it full", werr)
	}
	lock := "lock deploys web prod for 1h " + strings.Repeat("maintenance ", 75)

	res, out, _ := f.do("bob", lock)
	if !res.Failed {
		t.Errorf("lock on a full store: got %+v, want it refused", res)
	}
	full := "state store " + filepath.Join(disk, "state.db") + " cannot be written: its disk is full (no space left on device)"
	want := []string{
		full + "; nothing was changed",
		"The audit log cannot be written: " + full,
	}
	if got := texts(out); !slices.Equal(got, want) {
		t.Errorf("replies: got %q, want %q", got, want)
	}
	if locks, err := st.Locks(t.Context()); err != nil || len(locks) != 0 {
		t.Errorf("locks: got %+v, %v; want none", locks, err)
	}

	if err := os.Remove(filepath.Join(disk, "fill")); err != nil {
		t.Fatal(err)
	}
	if locks, err := st.Locks(t.Context()); err != nil || len(locks) != 0 {
		t.Errorf("locks once space was freed: got %+v, %v; want none: nothing is tried again by itself", locks, err)
	}
	res, out, _ = f.do("bob", lock)
	if got := texts(out); res.Failed || len(got) != 1 || !strings.HasPrefix(got[0], "Locked web/prod") {
		t.Errorf("lock once space was freed: got %+v, replies %q; want it locked", res, got)
	}
	if locks, err := st.Locks(t.Context()); err != nil || len(locks) != 1 {
		t.Errorf("locks: got %+v, %v; want one", locks, err)
	}
}

// texts is the titles of what out was told, one reply each.
func texts(out *recorder) []string {
	out.mu.Lock()
	defer out.mu.Unlock()
	var s []string
	for _, m := range out.replies {
		s = append(s, m.Title)
	}
	return s
}
