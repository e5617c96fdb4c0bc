package embedded_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/storetest"
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
		// The floor it is refused by is no lease's token: naming it as the
		// lease that took the watch over sent people after a holder that
		// never was.
		err := tc.write()
		if msg := errs.Message(err); !errors.Is(err, deploy.ErrLeaseLost) || strings.Contains(msg, "taken over by lease") || !strings.Contains(msg, "fencing token has been dropped") {
			t.Errorf("%s under token %d once its counter was dropped: got %v (message %q), want an error wrapping deploy.ErrLeaseLost saying the token was dropped, naming no lease that took it over", tc.name, old.Token(), err, msg)
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

// TestRunFencesPrunedWithoutTrim: with no history trim (no retention),
// the counters of runs' leases went only when the file was opened again,
// one per deploy piling up meanwhile. They go 7 days after their lease
// ended, as the Redis store's fences expire, at the next Acquire; one that
// ended since, or is held, stays. A write under a dropped counter's token
// is refused for that, not as taken over by a lease of the floor's
// number, which no lease ever held.
func TestRunFencesPrunedWithoutTrim(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC))
	s := openStore(t, filepath.Join(t.TempDir(), "switchman.db"), clock.Now)
	ctx := t.Context()
	acquireFor := func(key string, ttl time.Duration) deploy.Lease {
		t.Helper()
		l, err := s.Acquire(ctx, key, "bot-1", ttl)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	acquire := func(key string) deploy.Lease { return acquireFor(key, time.Minute) }
	release := func(l deploy.Lease) {
		t.Helper()
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	old := acquire(watchstore.LeaseKey("d1"))
	w := watchstore.Watch{ID: "d1", App: "web", Env: "prod", Fence: old.Token(), State: []byte(`{}`)}
	if err := s.PutWatch(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWatch(ctx, "d1", old.Token()); err != nil {
		t.Fatal(err)
	}
	release(old)
	release(acquire(deploy.RecoverLeaseKey("d1")))
	// Expired, never released: its holder stopped.
	acquire(deploy.RecoverLeaseKey("d2"))
	acquire(deploy.LeaseKey("web", "prod"))
	clock.Advance(6 * 24 * time.Hour)
	release(acquire(watchstore.LeaseKey("d3")))
	// Held throughout: a watch's lease is renewed as it goes on.
	live := acquireFor(watchstore.LeaseKey("d4"), 2*24*time.Hour)
	clock.Advance(24*time.Hour + 5*time.Minute)
	release(acquire(deploy.LeaseKey("web", "staging")))
	if err := live.Check(ctx); err != nil {
		t.Fatalf("the lease of d4: %v", err)
	}

	got, err := embedded.FenceKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{deploy.LeaseKey("web", "prod"), deploy.LeaseKey("web", "staging"), watchstore.LeaseKey("d3"), watchstore.LeaseKey("d4")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fencing counters 7 days on: got %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name  string
		write func() error
	}{
		{"put", func() error { return s.PutWatch(ctx, w) }},
		{"delete", func() error { return s.DeleteWatch(ctx, "d1", old.Token()) }},
	} {
		err := tc.write()
		msg := errs.Message(err)
		if !errors.Is(err, deploy.ErrLeaseLost) || errs.CodeOf(err) != errs.Conflict || strings.Contains(msg, "taken over by lease") || !strings.Contains(msg, "fencing token has been dropped") {
			t.Errorf("%s under token %d once its counter was dropped: got %v (message %q), want an error wrapping deploy.ErrLeaseLost, code conflict, saying the token was dropped, naming no lease that took it over", tc.name, old.Token(), err, msg)
		}
	}
	next := acquire(watchstore.LeaseKey("d1"))
	if next.Token() <= old.Token() {
		t.Errorf("token once the counter was dropped: got %d, want more than %d", next.Token(), old.Token())
	}
	// A holder of the lease that took the watch over is still named.
	w.Fence = next.Token()
	if err := s.PutWatch(ctx, w); err != nil {
		t.Fatalf("PutWatch under the new holder's token: %v", err)
	}
	stale := w
	stale.Fence = next.Token() - 1
	if err := s.PutWatch(ctx, stale); err == nil || !strings.Contains(errs.Message(err), fmt.Sprintf("taken over by lease %d", next.Token())) {
		t.Errorf("PutWatch under an older token than the holder's: got %v, want it refused as taken over by lease %d", err, next.Token())
	}
}
