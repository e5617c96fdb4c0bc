package embedded

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestWriteEndedWhileQueuedIsNotMade: a write whose context ends while it
// waits its turn behind one on a stalled disk is never made, even when
// the disk answers at once after: its caller is told nothing changed,
// and the store holds nothing of it. The write used to begin whenever
// the disk answered before the store noticed the end of the context, and
// its caller was told it may still be made (as it then was), though its
// context had ended before it began.
func TestWriteEndedWhileQueuedIsNotMade(t *testing.T) {
	const tries = 100
	for i := range tries {
		s, stalled := openStalled(t)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.PutLock(ctx, deploy.Lock{App: "web", Env: "prod", Owner: "ana"}) }()
		waitQueued(t)
		cancel()
		if err := stalled.Rollback(); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		err := <-done
		waitAbandonedTx(t)
		locks, lerr := s.Locks(t.Context())
		if !errors.Is(err, deploy.ErrStoreNotRun) || len(locks) != 0 || lerr != nil {
			t.Fatalf("try %d of %d: PutLock got %v, and %d locks stored (%v); want an error wrapping deploy.ErrStoreNotRun and none stored", i+1, tries, err, len(locks), lerr)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// waitQueued waits until a write transaction waits for bbolt's writer.
func waitQueued(t *testing.T) {
	t.Helper()
	const frame = "bbolt.(*DB).beginRWTx"
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if bytes.Contains(buf[:runtime.Stack(buf, true)], []byte(frame)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no write waits for the disk 10s after it was sent")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOpenOnStalledDiskEndsWithContext: opening the store on a disk that
// stalls (here a write transaction left open holds bbolt's one writer, as
// fdatasync on a hung disk does) returns when the context ends, as the
// bot's does when it is told to stop, with an error wrapping the
// context's, and nothing of the file left open. Open waited for the disk
// for ever, whatever its caller's context.
func TestOpenOnStalledDiskEndsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchman.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	stallErr := make(chan error, 1)
	opened = func(db *bolt.DB) {
		stalled, err := db.Begin(true)
		if err != nil {
			stallErr <- err
			return
		}
		// The disk answers once the open gave up.
		go func() { <-ctx.Done(); stallErr <- stalled.Rollback() }()
	}
	t.Cleanup(func() { opened = nil })
	done := make(chan error, 1)
	go func() {
		s, err := OpenContext(ctx, path, Options{})
		if err == nil {
			err = errors.Join(errors.New("opened"), s.Close())
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want an error wrapping context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still opening 10s after its context ended")
	}
	if err := <-stallErr; err != nil {
		t.Fatalf("stall: %v", err)
	}
	opened = nil
	// Nothing of the file is left open: it opens again.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("Open once the disk answers: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
