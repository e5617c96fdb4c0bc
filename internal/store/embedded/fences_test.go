package embedded_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// TestRunFencesPruned: the fencing counter of a lease taken once per run
// (its error watch's, its recovery's) is dropped once no lease of it is
// held, by a trim and on opening the file, so that a long-lived file does
// not keep one per deploy forever; that of an app+env lease, one per
// app+env, stays. A write under a token of a dropped counter is refused,
// and the next holder's token is newer than any before.
func TestRunFencesPruned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchman.db")
	s := openStore(t, path, nil)
	ctx := t.Context()
	acquire := func(s *embedded.Store, key string) deploy.Lease {
		t.Helper()
		l, err := s.Acquire(ctx, key, "bot-1", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	assertKeys := func(s *embedded.Store, when string, want ...string) {
		t.Helper()
		got, err := embedded.FenceKeys(s)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("fencing counters %s: got %q, want %q", when, got, want)
		}
	}
	old := acquire(s, watchstore.LeaseKey("d1"))
	w := watchstore.Watch{ID: "d1", App: "web", Env: "prod", Fence: old.Token(), State: []byte(`{}`)}
	if err := s.PutWatch(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWatch(ctx, "d1", old.Token()); err != nil {
		t.Fatal(err)
	}
	if err := old.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := acquire(s, deploy.RecoverLeaseKey("d1")).Release(ctx); err != nil {
		t.Fatal(err)
	}
	acquire(s, deploy.LeaseKey("web", "prod"))
	live := acquire(s, watchstore.LeaseKey("d2"))
	if _, err := s.TrimRecords(ctx, time.Now(), 10); err != nil {
		t.Fatal(err)
	}
	assertKeys(s, "after a trim", deploy.LeaseKey("web", "prod"), watchstore.LeaseKey("d2"))

	for _, tc := range []struct {
		name  string
		write func() error
	}{
		{"put", func() error { return s.PutWatch(ctx, w) }},
		{"delete", func() error { return s.DeleteWatch(ctx, "d1", old.Token()) }},
	} {
		if err := tc.write(); !errors.Is(err, deploy.ErrLeaseLost) {
			t.Errorf("%s under token %d once its counter was dropped: got %v, want an error wrapping deploy.ErrLeaseLost", tc.name, old.Token(), err)
		}
	}
	if _, err := s.Watch(ctx, "d1"); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Watch: got %v, want none: the stale write was refused", err)
	}
	next := acquire(s, watchstore.LeaseKey("d1"))
	if next.Token() <= old.Token() || next.Token() <= live.Token() {
		t.Errorf("token once the counter was dropped: got %d, want more than %d and %d", next.Token(), old.Token(), live.Token())
	}
	w.Fence = next.Token()
	if err := s.PutWatch(ctx, w); err != nil {
		t.Errorf("PutWatch under the new holder's token: %v", err)
	}
	// The held lease of d2 is still in force: its writes go through.
	if err := s.PutWatch(ctx, watchstore.Watch{ID: "d2", App: "web", Env: "prod", Fence: live.Token()}); err != nil {
		t.Errorf("PutWatch under a lease held through the trim: %v", err)
	}

	// Opened again, no lease is held.
	s = reopen(t, s, path)
	assertKeys(s, "after opening", deploy.LeaseKey("web", "prod"))
}
