package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
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

func testReplaceLock(t *testing.T, fresh freshFunc) {
	held := sampleLock("accounting", "production", time.Time{})
	// The same lock as read back in another zone: the same instants.
	heldElsewhere := held
	heldElsewhere.Created = held.Created.In(time.FixedZone("UTC+2", 2*60*60))
	stale := held
	stale.Reason = "db maintenance, part one"
	expired := sampleLock("accounting", "production", start.Add(-time.Second))
	next := sampleLock("accounting", "production", start.Add(time.Hour))
	next.Owner, next.Reason, next.Created = "bo", "quarter close", start
	for _, tc := range []struct {
		name   string
		stored []deploy.Lock // put first
		prev   *deploy.Lock
		// want is the lock in force after the call; ok, what the call
		// says; cur, the lock it returns.
		ok        bool
		cur, want *deploy.Lock
	}{
		{"none for none", nil, nil, true, nil, &next},
		{"none, a lock held", []deploy.Lock{held}, nil, false, &held, &held},
		{"the lock held", []deploy.Lock{held}, &held, true, nil, &next},
		{"the lock held, read in another zone", []deploy.Lock{held}, &heldElsewhere, true, nil, &next},
		{"a lock since replaced", []deploy.Lock{held}, &stale, false, &held, &held},
		{"a lock since removed", nil, &held, false, nil, nil},
		{"none, an expired lock", []deploy.Lock{expired}, nil, true, nil, &next},
		{"an expired lock", []deploy.Lock{expired}, &expired, false, nil, nil},
		{"none, locks of wider and narrower scopes", []deploy.Lock{
			sampleLock("", "", time.Time{}), sampleLock("accounting", "", time.Time{}),
		}, nil, true, nil, &next},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := fresh(t)
			for _, l := range tc.stored {
				mustLock(t, s, l)
			}
			cur, ok, err := s.ReplaceLock(t.Context(), tc.prev, next)
			if err != nil {
				t.Fatalf("ReplaceLock: %v", err)
			}
			if ok != tc.ok {
				t.Errorf("ReplaceLock: got ok %v, want %v", ok, tc.ok)
			}
			switch {
			case cur == nil && tc.cur != nil:
				t.Errorf("ReplaceLock: got no lock in the way, want %+v", *tc.cur)
			case cur != nil && tc.cur == nil:
				t.Errorf("ReplaceLock: got %+v in the way, want none", *cur)
			case cur != nil:
				assertLock(t, *cur, *tc.cur)
			}
			var got *deploy.Lock
			for _, l := range mustLocks(t, s) {
				if l.App == next.App && l.Env == next.Env {
					got = &l
				}
			}
			switch {
			case got == nil && tc.want != nil:
				t.Errorf("lock in force: got none, want %+v", *tc.want)
			case got != nil && tc.want == nil:
				t.Errorf("lock in force: got %+v, want none", *got)
			case got != nil:
				assertLock(t, *got, *tc.want)
			}
		})
	}

	t.Run("fenced by the lease", func(t *testing.T) {
		// A rollback locks its app+env under its lease's token. Once its
		// lease ran out and another run took the app+env, its lock is
		// refused: the new holder decides, from what it read, whether
		// the app+env is locked.
		s, clock := fresh(t)
		key := deploy.LeaseKey("accounting", "production")
		old := mustAcquire(t, s, key, "d1 rollback by ana", leaseTTL)
		clock.Advance(leaseTTL + time.Second)
		newer := mustAcquire(t, s, key, "d2 deploy of build 2 by bo", leaseTTL)
		stale := next
		stale.Fence = old.Token()
		cur, ok, err := s.ReplaceLock(t.Context(), nil, stale)
		if !errors.Is(err, deploy.ErrLeaseLost) || ok || cur != nil {
			t.Errorf("ReplaceLock with fence %d once the lease handed out %d: got %v, %v, %v; want an error wrapping deploy.ErrLeaseLost",
				old.Token(), newer.Token(), cur, ok, err)
		}
		assertScopes(t, s)
		held := next
		held.Fence = newer.Token()
		if _, ok, err := s.ReplaceLock(t.Context(), nil, held); err != nil || !ok {
			t.Fatalf("ReplaceLock with the lease's newest fence %d: got %v, %v; want it stored", newer.Token(), ok, err)
		}
		if got := mustLocks(t, s); len(got) != 1 || got[0].Fence != newer.Token() {
			t.Errorf("locks: got %+v, want the one of fence %d", got, newer.Token())
		}
	})

	t.Run("other scope", func(t *testing.T) {
		s, _ := fresh(t)
		prev := sampleLock("accounting", "", time.Time{})
		if _, _, err := s.ReplaceLock(t.Context(), &prev, next); err == nil {
			t.Errorf("ReplaceLock of %s in place of a lock of %s: got no error", next.Scope(), prev.Scope())
		}
		assertScopes(t, s)
	})

	// Many lockers race for one scope, from none and then from the
	// winner's lock: each round, exactly one stores its lock, and every
	// other is told of that one.
	t.Run("race", func(t *testing.T) {
		s, _ := fresh(t)
		const n = 16
		var prev *deploy.Lock
		for round := range 2 {
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				winners  []deploy.Lock
				refusals []*deploy.Lock
			)
			ready := make(chan struct{})
			for i := range n {
				l := sampleLock("accounting", "production", time.Time{})
				l.Owner, l.Created = fmt.Sprintf("user%d", i), start.Add(time.Duration(round)*time.Minute)
				wg.Go(func() {
					<-ready
					cur, ok, err := s.ReplaceLock(t.Context(), prev, l)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil:
						t.Errorf("ReplaceLock by %s: %v", l.Owner, err)
					case ok:
						winners = append(winners, l)
					default:
						refusals = append(refusals, cur)
					}
				})
			}
			close(ready)
			wg.Wait()
			if len(winners) != 1 {
				owners := make([]string, len(winners))
				for i, w := range winners {
					owners[i] = w.Owner
				}
				t.Fatalf("round %d: locks stored by %q, want exactly one of %d lockers", round, owners, n)
			}
			if len(refusals) != n-1 {
				t.Errorf("round %d: refused %d, want %d", round, len(refusals), n-1)
			}
			for _, cur := range refusals {
				if cur == nil || !cur.Equal(winners[0]) {
					t.Errorf("round %d: a refused locker was told of %+v, want the winner's %+v", round, cur, winners[0])
				}
			}
			locks := mustLocks(t, s)
			if len(locks) != 1 || !locks[0].Equal(winners[0]) {
				t.Fatalf("round %d: locks %+v, want only the winner's %+v", round, locks, winners[0])
			}
			prev = &winners[0]
		}
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
