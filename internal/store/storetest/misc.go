package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
)

func testSetOnce(t *testing.T, fresh freshFunc) {
	const ttl = 10 * time.Minute
	t.Run("once until expiry", func(t *testing.T) {
		s, clock := fresh(t)
		steps := []struct {
			name    string
			advance time.Duration
			key     string
			want    bool
		}{
			{"first", 0, "slack:Ev01", true},
			{"repeat", 0, "slack:Ev01", false},
			{"other key", 0, "slack:Ev02", true},
			{"before expiry", ttl - time.Second, "slack:Ev01", false},
			{"after expiry", 2 * time.Second, "slack:Ev01", true},
			{"repeat after reset", 0, "slack:Ev01", false},
			// Ev02 was set with Ev01, so it has expired too.
			{"other key after expiry", 0, "slack:Ev02", true},
		}
		for _, st := range steps {
			clock.Advance(st.advance)
			got, err := s.SetOnce(t.Context(), st.key, ttl)
			if err != nil {
				t.Fatalf("%s: SetOnce(%q): %v", st.name, st.key, err)
			}
			if got != st.want {
				t.Errorf("%s: SetOnce(%q): got %v, want %v", st.name, st.key, got, st.want)
			}
		}
	})

	t.Run("many expired keys", func(t *testing.T) {
		s, clock := fresh(t)
		for i := range 100 {
			mustSetOnce(t, s, fmt.Sprintf("k%03d", i), time.Minute, true)
		}
		clock.Advance(time.Hour)
		for i := range 100 {
			mustSetOnce(t, s, fmt.Sprintf("k%03d", i), time.Minute, true)
		}
		mustSetOnce(t, s, "k000", time.Minute, false)
	})

	t.Run("race", func(t *testing.T) {
		s, _ := fresh(t)
		var wg sync.WaitGroup
		var wins atomic.Int32
		for range 16 {
			wg.Go(func() {
				ok, err := s.SetOnce(t.Context(), "discord:123", ttl)
				if err != nil {
					t.Errorf("SetOnce: %v", err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if got := wins.Load(); got != 1 {
			t.Errorf("SetOnce raced by 16: got %d true, want 1", got)
		}
	})
}

func mustSetOnce(t *testing.T, s Store, key string, ttl time.Duration, want bool) {
	t.Helper()
	got, err := s.SetOnce(t.Context(), key, ttl)
	if err != nil {
		t.Fatalf("SetOnce(%q): %v", key, err)
	}
	if got != want {
		t.Errorf("SetOnce(%q): got %v, want %v", key, got, want)
	}
}

// testCancelled checks that every method gives up on a cancelled context
// with an error wrapping its cause.
func testCancelled(t *testing.T, fresh freshFunc) {
	s, _ := fresh(t)
	mustPut(t, s, sampleRecord("d1", "accounting", "production", start))
	l := mustAcquire(t, s, leaseKey, "bot-1", leaseTTL)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"PutRecord", func() error { return s.PutRecord(ctx, sampleRecord("d2", "a", "e", start)) }},
		{"Record", func() error { _, err := s.Record(ctx, "d1"); return err }},
		{"Records", func() error { _, err := s.Records(ctx, deploy.Filter{}); return err }},
		{"PutLock", func() error { return s.PutLock(ctx, sampleLock("a", "", time.Time{})) }},
		{"ReplaceLock", func() error { _, _, err := s.ReplaceLock(ctx, nil, sampleLock("a", "", time.Time{})); return err }},
		{"DeleteLock", func() error { _, err := s.DeleteLock(ctx, "a", ""); return err }},
		{"Locks", func() error { _, err := s.Locks(ctx); return err }},
		{"AppendAudit", func() error { return s.AppendAudit(ctx, &audit.Entry{Command: "x"}) }},
		{"Audit", func() error { _, err := s.Audit(ctx, audit.Query{}); return err }},
		{"TrimRecords", func() error { _, err := s.TrimRecords(ctx, start, 0); return err }},
		{"TrimAudit", func() error { _, err := s.TrimAudit(ctx, start); return err }},
		{"Holder", func() error { _, err := s.Holder(ctx, leaseKey); return err }},
		{"Signal", func() error { return s.Signal(ctx, "d1", "cancel", "ana", time.Minute) }},
		{"SignalFirst", func() error { _, _, err := s.SignalFirst(ctx, "d1", "confirm", "ok ana", time.Minute); return err }},
		{"TakeSignal", func() error { _, _, err := s.TakeSignal(ctx, "d1", "cancel"); return err }},
		{"SetOnce", func() error { _, err := s.SetOnce(ctx, "k", time.Minute); return err }},
		{"Acquire", func() error { _, err := s.Acquire(ctx, "other", "bot-1", leaseTTL); return err }},
		{"PutWatch", func() error { return s.PutWatch(ctx, watchstore.Watch{ID: "d1", Fence: l.Token()}) }},
		{"Watch", func() error { _, err := s.Watch(ctx, "d1"); return err }},
		{"Watches", func() error { _, err := s.Watches(ctx); return err }},
		{"DeleteWatch", func() error { return s.DeleteWatch(ctx, "d1", l.Token()) }},
		{"Lease.Check", func() error { return l.Check(ctx) }},
		{"Lease.Renew", func() error { return l.Renew(ctx) }},
		{"Lease.Release", func() error { return l.Release(ctx) }},
	} {
		if err := tc.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got %v, want an error wrapping context.Canceled", tc.name, err)
		}
	}
	// Nothing happened.
	assertIDs(t, s, deploy.Filter{}, "d1")
	assertHeld(t, l)
	if n := len(mustAudit(t, s, audit.Query{})); n != 0 {
		t.Errorf("Audit: got %d entries, want 0", n)
	}
}
