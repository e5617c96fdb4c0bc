package embedded

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOpenEndedContextCreatesNothing: OpenContext with a context that has
// ended creates neither the store nor its directory, and its error wraps
// the context's. It created both, then failed its first write.
func TestOpenEndedContextCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "switchman.db")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s, err := OpenContext(ctx, path, Options{})
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("OpenContext: got %v, want an error wrapping context.Canceled", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after OpenContext: got %v, want none created", dir, err)
	}
}

// TestOpenEndsWithContextWhileOpening: OpenContext returns when its
// context ends while bbolt opens the file (reads its header on a stalled
// disk; here a hook that waits), with an error wrapping the context's;
// the file opened once the disk answers is closed, so that it opens
// again. OpenContext waited as long as the disk did. Its error says
// which ended it: a bot told to stop as it starts was told the store
// "did not open in time", which sent whoever read it after the disk.
func TestOpenEndsWithContextWhileOpening(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ended func(t *testing.T) (context.Context, func())
		want  error
		says  string
	}{
		{"cancelled", func(t *testing.T) (context.Context, func()) {
			return context.WithCancel(t.Context())
		}, context.Canceled, "had not opened when the call was cancelled: context canceled"},
		{"out of time", func(t *testing.T) (context.Context, func()) {
			ctx := &expiring{Context: context.Background(), done: make(chan struct{})}
			return ctx, sync.OnceFunc(func() { close(ctx.done) })
		}, context.DeadlineExceeded, "did not open in time: context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) { testOpenEnds(t, tc.ended, tc.want, tc.says) })
	}
}

func testOpenEnds(t *testing.T, ended func(t *testing.T) (context.Context, func()), want error, says string) {
	path := filepath.Join(t.TempDir(), "switchman.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := ended(t)
	defer cancel()
	release := make(chan struct{})
	answer := sync.OnceFunc(func() { close(release) })
	t.Cleanup(answer)
	opening = func(string) {
		cancel()
		<-release // the disk stalls until the open gave up
	}
	err = returns(t, "OpenContext", func() error {
		s, err := OpenContext(ctx, path, Options{})
		if err == nil {
			err = errors.Join(errors.New("opened"), s.Close())
		}
		return err
	})
	if !errors.Is(err, want) {
		t.Errorf("OpenContext: got %v, want an error wrapping %v", err, want)
	}
	if got, want := fmt.Sprint(err), "state store "+path+" "+says; got != want {
		t.Errorf("OpenContext: got %q, want %q", got, want)
	}
	answer()
	opening = nil
	// What the abandoned open opened is closed once it returns; until
	// then the file is in use.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := Open(path, Options{})
		if err == nil {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			break
		}
		if !strings.Contains(err.Error(), "in use") || time.Now().After(deadline) {
			t.Fatalf("Open once the disk answers: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
