package embedded

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// returns runs f in a goroutine and returns its error, failing the test
// if f has not returned 10 s later: what it opens may wait for ever.
func returns(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still waiting 10s later", what)
		return nil
	}
}

// unblockPipe opens the named pipe at path to write, once, so that an open
// of it to read, which waits for a writer, returns.
func unblockPipe(path string) {
	if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
}

// TestOpenNotARegularFile: a store path naming a named pipe, a socket or a
// device, itself or through a symlink, is refused by Open, to write or to
// read, and by Check, as what it is, and left as it is. It was refused as
// an empty file, with the advice to remove it, which for a symlink to a
// device or a pipe another program reads is the wrong thing to do, and
// opening it, had its look at the size been passed, would have waited for
// a writer of the pipe for ever.
func TestOpenNotARegularFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind string
		make func(t *testing.T, path string)
	}{
		{"named pipe", "a named pipe", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unblockPipe(path) })
		}},
		{"socket", "a socket", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}},
		{"device through a symlink", "a character device", func(t *testing.T, path string) {
			if err := os.Symlink(os.DevNull, path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchman.db")
			tc.make(t, path)
			before, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("state store %s is %s, not a regular file", path, tc.kind)
			for _, ro := range []bool{false, true} {
				err := returns(t, "Open", func() error {
					s, err := Open(path, Options{ReadOnly: ro})
					if err == nil {
						s.Close()
					}
					return err
				})
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Open (read-only %v): got %v, want an error saying %q", ro, err, want)
				}
			}
			if err := returns(t, "Check", func() error { return Check(path, nil) }); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Check: got %v, want an error saying %q", err, want)
			}
			after, err := os.Lstat(path)
			if err != nil || after.Mode() != before.Mode() {
				t.Errorf("%s after Open and Check: got %v, %v, want it left as it was (%v)", path, after, err, before.Mode())
			}
		})
	}
}

// TestOpenFileReplacedByPipe: a store file replaced by a named pipe after
// Open looked at it, and before it opens it (a restore under way, whoever
// else writes the directory), is refused once opened, as a pipe; opening
// the pipe to read the file's header waited for a writer for ever.
func TestOpenFileReplacedByPipe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchman.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	opening = func(string) {
		if err := errors.Join(os.Remove(path), syscall.Mkfifo(path, 0o600)); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() {
		opening = nil
		unblockPipe(path)
	})
	err = returns(t, "Open", func() error {
		s, err := Open(path, Options{})
		if err == nil {
			s.Close()
		}
		return err
	})
	if want := fmt.Sprintf("state store %s is a named pipe, not a regular file", path); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Open: got %v, want an error saying %q", err, want)
	}
}
