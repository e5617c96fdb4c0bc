package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

func testLocks(t *testing.T, fresh freshFunc) {
	t.Run("sorted by scope", func(t *testing.T) {
		s, _ := fresh(t)
		scopes := [][2]string{
			{"billing", "staging"},
			{"accounting", "production"},
			{"", ""},
			{"accounting", ""},
			{"accounting", "staging"},
			{"accounting-v2", ""},
		}
		for _, sc := range scopes {
			mustLock(t, s, sampleLock(sc[0], sc[1], time.Time{}))
		}
		assertScopes(t, s,
			"all deploys", "accounting", "accounting/production", "accounting/staging",
			"accounting-v2", "billing/staging")
	})

	t.Run("round trip", func(t *testing.T) {
		s, _ := fresh(t)
		want := sampleLock("accounting", "production", start.Add(time.Hour))
		mustLock(t, s, want)
		locks := mustLocks(t, s)
		if len(locks) != 1 {
			t.Fatalf("Locks: got %d locks, want 1", len(locks))
		}
		assertLock(t, locks[0], want)
	})

	t.Run("put replaces the same scope", func(t *testing.T) {
		s, _ := fresh(t)
		mustLock(t, s, sampleLock("accounting", "production", time.Time{}))
		mustLock(t, s, sampleLock("accounting", "", time.Time{}))
		want := sampleLock("accounting", "production", start.Add(time.Hour))
		want.Owner, want.Reason = "bo", "quarter close"
		mustLock(t, s, want)
		locks := mustLocks(t, s)
		if len(locks) != 2 {
			t.Fatalf("Locks: got %d locks, want 2: %+v", len(locks), locks)
		}
		assertLock(t, locks[1], want)
	})

	t.Run("delete", func(t *testing.T) {
		s, _ := fresh(t)
		want := sampleLock("accounting", "production", time.Time{})
		mustLock(t, s, want)
		mustLock(t, s, sampleLock("accounting", "", time.Time{}))
		got, err := s.DeleteLock(t.Context(), "accounting", "production")
		if err != nil {
			t.Fatalf("DeleteLock: %v", err)
		}
		assertLock(t, got, want)
		assertScopes(t, s, "accounting")
		_, err = s.DeleteLock(t.Context(), "accounting", "production")
		if !errors.Is(err, deploy.ErrNotFound) {
			t.Fatalf("second DeleteLock: got %v, want an error wrapping deploy.ErrNotFound", err)
		}
	})

	t.Run("delete not found", func(t *testing.T) {
		s, _ := fresh(t)
		mustLock(t, s, sampleLock("accounting", "", time.Time{}))
		// A narrower or wider scope is another lock.
		for _, sc := range [][2]string{{"accounting", "production"}, {"", ""}, {"billing", ""}} {
			_, err := s.DeleteLock(t.Context(), sc[0], sc[1])
			if !errors.Is(err, deploy.ErrNotFound) {
				t.Errorf("DeleteLock(%q, %q): got %v, want an error wrapping deploy.ErrNotFound", sc[0], sc[1], err)
			}
		}
		assertScopes(t, s, "accounting")
	})

	t.Run("expiry", func(t *testing.T) {
		s, clock := fresh(t)
		mustLock(t, s, sampleLock("accounting", "production", start.Add(time.Hour)))
		mustLock(t, s, sampleLock("accounting", "staging", start.Add(2*time.Hour)))
		mustLock(t, s, sampleLock("billing", "", time.Time{}))
		clock.Advance(59 * time.Minute)
		assertScopes(t, s, "accounting/production", "accounting/staging", "billing")
		clock.Advance(2 * time.Minute)
		assertScopes(t, s, "accounting/staging", "billing")
		// Listing again, after the lazy cleanup, gives the same answer.
		assertScopes(t, s, "accounting/staging", "billing")
		clock.Advance(time.Hour)
		_, err := s.DeleteLock(t.Context(), "accounting", "staging")
		if !errors.Is(err, deploy.ErrNotFound) {
			t.Fatalf("DeleteLock of an expired lock: got %v, want an error wrapping deploy.ErrNotFound", err)
		}
		assertScopes(t, s, "billing")
		// A new lock on an expired scope is in force.
		mustLock(t, s, sampleLock("accounting", "production", clock.Now().Add(time.Hour)))
		assertScopes(t, s, "accounting/production", "billing")
	})
}

func sampleLock(app, env string, expires time.Time) deploy.Lock {
	return deploy.Lock{
		App:     app,
		Env:     env,
		Owner:   "ana",
		Reason:  "db maintenance",
		Created: start.Add(-time.Minute),
		Expires: expires,
	}
}

func mustLock(t *testing.T, s Store, l deploy.Lock) {
	t.Helper()
	if err := s.PutLock(t.Context(), l); err != nil {
		t.Fatalf("PutLock %s: %v", l.Scope(), err)
	}
}

func mustLocks(t *testing.T, s Store) []deploy.Lock {
	t.Helper()
	locks, err := s.Locks(t.Context())
	if err != nil {
		t.Fatalf("Locks: %v", err)
	}
	return locks
}

func assertScopes(t *testing.T, s Store, want ...string) {
	t.Helper()
	locks := mustLocks(t, s)
	got := make([]string, 0, len(locks))
	for _, l := range locks {
		got = append(got, l.Scope())
	}
	if !slices.Equal(got, want) {
		t.Errorf("Locks: got scopes %q, want %q", got, want)
	}
}

func assertLock(t *testing.T, got, want deploy.Lock) {
	t.Helper()
	if got.App != want.App || got.Env != want.Env || got.Owner != want.Owner || got.Reason != want.Reason ||
		!got.Created.Equal(want.Created) || !got.Expires.Equal(want.Expires) {
		t.Errorf("lock %s: got %+v, want %+v", want.Scope(), got, want)
	}
}
