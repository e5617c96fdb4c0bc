// Package leakcheck tells whether goroutines and file descriptors a test
// started outlive it: a bot runs for months, and what one deploy, one
// reconnect or one command leaves behind adds up.
//
// A test takes a Snapshot before the operations it repeats and calls
// Check once everything it opened is closed. Check polls until the
// goroutines started since the snapshot have ended and the process holds
// no more file descriptors than it did, and fails the test, naming what is
// left, if they have not within a deadline. Tests that use it must not be
// parallel: another test's goroutines and files would count.
package leakcheck

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// settle is how long Check waits for goroutines and files to go. It is a
// deadline for a condition polled, not a duration measured.
var settle = 10 * time.Second

// Snapshot is the goroutines and open files at one moment.
type Snapshot struct {
	ids map[string]bool // goroutine ids
	fds int
}

// Take records the goroutines and open file descriptors of the process.
func Take(t testing.TB) Snapshot {
	t.Helper()
	s := Snapshot{ids: map[string]bool{}}
	for _, g := range goroutines() {
		s.ids[g.id] = true
	}
	s.fds = FDs(t)
	return s
}

// Check fails t if goroutines started since s, or file descriptors opened
// since s, are still there once settle has passed.
func (s Snapshot) Check(t testing.TB) {
	t.Helper()
	s.CheckAtMost(t, 0)
}

// CheckAtMost fails t if more than n goroutines started since s, or any
// file descriptor opened since s, are still there once settle has passed:
// for what keeps a bounded number running for as long as it lives (a
// watch, a connection kept warm), while the test repeats what starts them.
func (s Snapshot) CheckAtMost(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(settle)
	for {
		left := s.newGoroutines()
		fds := FDs(t)
		if len(left) <= n && fds <= s.fds {
			return
		}
		if time.Now().After(deadline) {
			if len(left) > n {
				t.Errorf("%d goroutines left running, want at most %d:\n%s", len(left), n, strings.Join(left, "\n\n"))
			}
			if fds > s.fds {
				t.Errorf("%d file descriptors open, want at most %d as before:\n%s", fds, s.fds, listFDs())
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newGoroutines returns the stacks of the goroutines started since s.
func (s Snapshot) newGoroutines() []string {
	var left []string
	for _, g := range goroutines() {
		if s.ids[g.id] || ignored(g.stack) {
			continue
		}
		left = append(left, g.stack)
	}
	return left
}

// ignored are goroutines of the runtime and the test binary that come and
// go on their own.
func ignored(stack string) bool {
	for _, s := range []string{
		"testing.(*T).Run(",
		"testing.tRunner(",
		"testing.runTests",
		"os/signal.signal_recv",
		"runtime.ensureSigM",
		"runtime/trace.",
		"leakcheck.goroutines(",
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}

type goroutine struct{ id, stack string }

func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var gs []goroutine
	for _, st := range bytes.Split(buf, []byte("\n\n")) {
		head, _, _ := bytes.Cut(st, []byte("\n"))
		// "goroutine 17 [running]:"
		f := strings.Fields(string(head))
		if len(f) < 2 || f[0] != "goroutine" {
			continue
		}
		gs = append(gs, goroutine{id: f[1], stack: string(st)})
	}
	return gs
}

// FDs is how many file descriptors the process has open.
func FDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("leakcheck: list open files: %v", err)
	}
	return len(ents)
}

func listFDs() string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fmt.Fprintf(&b, "%s -> %s\n", e.Name(), target)
	}
	return b.String()
}
