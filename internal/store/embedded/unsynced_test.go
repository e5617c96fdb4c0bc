package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// The test binary run again by TestWriteSyncFails finds in its
// environment which errno its write's fdatasync fails with, which of them
// (1: the data pages', 2: the meta page's), and where the store is.
const (
	syncFailErrno = "SWITCHMAN_TEST_SYNC_FAIL_ERRNO"
	syncFailWhen  = "SWITCHMAN_TEST_SYNC_FAIL_WHEN"
	syncFailDir   = "SWITCHMAN_TEST_SYNC_FAIL_DIR"
)

// TestWriteSyncFails: bbolt writes a transaction's pages and waits for
// the disk (fdatasync), then writes its meta page and waits again. When
// the first wait fails, nothing of the write is shown, nor kept: the
// store says so. When only the second fails (ENOSPC on a thin or network
// volume, EIO), bbolt returns the error, but the meta page is written:
// the store shows the write, and so does the file opened again, while a
// disk that is full was said to have refused it ("nothing was changed").
// Its outcome is not known. strace injects the fault into that fdatasync
// alone, of the thread that commits.
func TestWriteSyncFails(t *testing.T) {
	if name := os.Getenv(syncFailErrno); name != "" {
		writeSyncFailsChild(t, name, os.Getenv(syncFailWhen) == "2")
		return
	}
	for _, tc := range []struct {
		name  string
		errno string
		when  string
	}{
		{"data pages ENOSPC", "ENOSPC", "1"},
		{"meta page ENOSPC", "ENOSPC", "2"},
		{"meta page EIO", "EIO", "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{syncFailErrno + "=" + tc.errno, syncFailWhen + "=" + tc.when, syncFailDir + "=" + t.TempDir()}
			trace := traced(t, "TestWriteSyncFails", env, "inject=fdatasync:error="+tc.errno+":when="+tc.when)
			if n := strings.Count(trace, "(INJECTED)"); n != 1 {
				t.Errorf("faults injected: got %d, want 1:\n%s", n, trace)
			}
		})
	}
}

// traced runs test again, in a process of its own with env, and strace
// attached to the thread it names (a line "tid N" on its output) to
// tamper with that thread's fdatasync as inject says; the test goes on
// once strace is attached (a line on its input). It fails t if the test
// failed there, and returns what strace saw.
func traced(t *testing.T, test string, env []string, inject string) string {
	t.Helper()
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatal("strace is needed to make the disk fail or stall: apt-get install strace")
	}
	child := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	child.Env = append(os.Environ(), env...)
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = child.Stdout
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	out := bufio.NewScanner(stdout)
	var tid, lines string
	for tid == "" && out.Scan() {
		lines += out.Text() + "\n"
		if id, ok := strings.CutPrefix(out.Text(), "tid "); ok {
			tid = id
		}
	}
	if tid == "" {
		t.Fatalf("the child named no thread:\n%s", lines)
	}

	trace := filepath.Join(t.TempDir(), "strace.out")
	strace := exec.Command("strace", "-p", tid, "-o", trace, "-e", "trace=fdatasync", "-e", inject)
	attached, err := strace.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := strace.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = strace.Process.Kill(); _ = strace.Wait() })
	said := bufio.NewScanner(attached)
	for said.Scan() && !strings.Contains(said.Text(), "attached") {
		t.Log("strace: " + said.Text())
	}
	go func() {
		for said.Scan() {
		}
	}()
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	for out.Scan() {
		lines += out.Text() + "\n"
		if strings.HasPrefix(out.Text(), "--- ") {
			// The test has ended there: strace, gone, lets go of
			// a thread it still holds in a stall.
			_ = strace.Process.Kill()
		}
	}
	if err := child.Wait(); err != nil {
		t.Errorf("%s: %v:\n%s", test, err, lines)
	}
	_ = strace.Wait() // killed, or ended with the thread it traced
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeSyncFailsChild is TestWriteSyncFails in the process strace
// traces: it names the thread it writes from, waits for strace to attach
// to it, and makes a write whose fdatasync of the meta page, if meta,
// else of the data pages, fails with errno name.
func writeSyncFailsChild(t *testing.T, name string, meta bool) {
	errno := map[string]syscall.Errno{"ENOSPC": syscall.ENOSPC, "EIO": syscall.EIO}[name]
	path := filepath.Join(os.Getenv(syncFailDir), "switchman.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Without a context that can end, the write runs on this goroutine,
	// and so on this thread alone.
	runtime.LockOSThread()
	fmt.Printf("tid %d\n", syscall.Gettid())
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	err = s.PutLock(context.Background(), deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: "db work", Created: time.Now()})
	if !errors.Is(err, errno) {
		t.Fatalf("PutLock: got %v, want an error wrapping %s", err, name)
	}
	got := deploy.OutcomeUnknown(err, "whether web/prod was locked", "locks shows it")
	said := errs.Message(got)
	if meta {
		if !errors.Is(got, deploy.ErrOutcomeUnknown) {
			t.Errorf("OutcomeUnknown: got %q, want the outcome not known", said)
		}
		if !strings.Contains(said, "its disk failed to confirm it was kept") {
			t.Errorf("OutcomeUnknown: got %q, want it to say the disk failed to confirm the write", said)
		}
	} else if !errors.Is(err, deploy.ErrStoreFull) || !strings.HasSuffix(said, "nothing was changed") {
		t.Errorf("PutLock: got %v, said %q, want an error wrapping deploy.ErrStoreFull, nothing changed", err, said)
	}

	// A disk that says it is full refuses the writes that need new room.
	w := s.Writable(t.Context())
	switch condition, _ := HealthCondition(w); {
	case errno == syscall.ENOSPC && condition != ConditionRefusesWrites:
		t.Errorf("health: got %v (%s), want %s", w, condition, ConditionRefusesWrites)
	case errno != syscall.ENOSPC && w != nil:
		t.Errorf("Writable: got %v, want nil", w)
	}

	locked := func(s *Store) bool {
		ls, err := s.Locks(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(ls) == 1 && ls[0].App == "web"
	}
	if got := locked(s); got != meta {
		t.Errorf("Locks: got web/prod locked %v, want %v", got, meta)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := locked(s); got != meta {
		t.Errorf("Locks once opened again: got web/prod locked %v, want %v", got, meta)
	}
}
