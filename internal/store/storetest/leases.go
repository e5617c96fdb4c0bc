package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

const (
	leaseKey = "accounting/production"
	leaseTTL = 30 * time.Second
)

func testLeases(t *testing.T, fresh freshFunc) {
	t.Run("acquire and release", func(t *testing.T) {
		s, _ := fresh(t)
		l := mustAcquire(t, s, leaseKey, "bot-1", leaseTTL)
		if l.Token() <= 0 {
			t.Errorf("Token: got %d, want a positive token", l.Token())
		}
		assertHeld(t, l)
		if err := l.Release(t.Context()); err != nil {
			t.Fatalf("Release: %v", err)
		}
		assertLost(t, "Check after Release", l.Check(t.Context()))
		assertLost(t, "second Release", l.Release(t.Context()))
		l2 := mustAcquire(t, s, leaseKey, "bot-2", leaseTTL)
		if l2.Token() <= l.Token() {
			t.Errorf("Token after release: got %d, want more than %d", l2.Token(), l.Token())
		}
	})

	t.Run("held", func(t *testing.T) {
		for _, holder := range []string{"bot-2", "bot-1"} {
			t.Run("by "+holder, func(t *testing.T) {
				s, _ := fresh(t)
				l := mustAcquire(t, s, leaseKey, "bot-1", leaseTTL)
				_, err := s.Acquire(t.Context(), leaseKey, holder, leaseTTL)
				assertHeldBy(t, err, "bot-1")
				// The newest token: recovering a run whose app+env
				// another holds, a record is written under it.
				if he := (*deploy.LeaseHeldError)(nil); errors.As(err, &he) && he.Token != l.Token() {
					t.Errorf("LeaseHeldError: got token %d, want the holder's %d", he.Token, l.Token())
				}
				assertHeld(t, l)
			})
		}
	})

	t.Run("holder", func(t *testing.T) {
		s, clock := fresh(t)
		holder := func(when string, want string) {
			t.Helper()
			got, err := s.Holder(t.Context(), leaseKey)
			if err != nil {
				t.Fatalf("Holder %s: %v", when, err)
			}
			if got != want {
				t.Errorf("Holder %s: got %q, want %q", when, got, want)
			}
		}
		holder("of a key never taken", "")
		l := mustAcquire(t, s, leaseKey, "bot-1 deploy of build 42 by ana", leaseTTL)
		holder("of a held key", "bot-1 deploy of build 42 by ana")
		if err := l.Release(t.Context()); err != nil {
			t.Fatalf("Release: %v", err)
		}
		holder("after Release", "")
		mustAcquire(t, s, leaseKey, "bot-2", leaseTTL)
		clock.Advance(leaseTTL + time.Second)
		holder("after expiry", "")
	})

	t.Run("keys are independent", func(t *testing.T) {
		s, _ := fresh(t)
		a := mustAcquire(t, s, "accounting/production", "bot-1", leaseTTL)
		b := mustAcquire(t, s, "accounting/staging", "bot-2", leaseTTL)
		if err := b.Release(t.Context()); err != nil {
			t.Fatalf("Release: %v", err)
		}
		assertHeld(t, a)
	})

	t.Run("expiry", func(t *testing.T) {
		s, clock := fresh(t)
		old := mustAcquire(t, s, leaseKey, "bot-1", leaseTTL)
		clock.Advance(leaseTTL - time.Second)
		assertHeld(t, old)
		clock.Advance(2 * time.Second)
		assertLost(t, "Check after expiry", old.Check(t.Context()))
		cur := mustAcquire(t, s, leaseKey, "bot-2", leaseTTL)
		if cur.Token() <= old.Token() {
			t.Errorf("Token after expiry: got %d, want more than %d", cur.Token(), old.Token())
		}
		// The old holder finds out, and cannot disturb the new one.
		assertLost(t, "Check of the old lease", old.Check(t.Context()))
		assertLost(t, "Renew of the old lease", old.Renew(t.Context()))
		assertLost(t, "Release of the old lease", old.Release(t.Context()))
		assertHeld(t, cur)
		_, err := s.Acquire(t.Context(), leaseKey, "bot-3", leaseTTL)
		assertHeldBy(t, err, "bot-2")
		if err := cur.Release(t.Context()); err != nil {
			t.Errorf("Release of the new lease: %v", err)
		}
	})

	t.Run("same holder after expiry", func(t *testing.T) {
		s, clock := fresh(t)
		old := mustAcquire(t, s, leaseKey, "bot-1", leaseTTL)
		clock.Advance(leaseTTL + time.Second)
		cur := mustAcquire(t, s, leaseKey, "bot-1", leaseTTL)
		if cur.Token() <= old.Token() {
			t.Errorf("Token: got %d, want more than %d", cur.Token(), old.Token())
		}
		assertLost(t, "Check of the old lease", old.Check(t.Context()))
		assertLost(t, "Release of the old lease", old.Release(t.Context()))
		assertHeld(t, cur)
	})

	t.Run("renew", func(t *testing.T) {
		s, clock := fresh(t)
		l := mustAcquire(t, s, leaseKey, "bot-1", leaseTTL)
		clock.Advance(leaseTTL - 5*time.Second)
		if err := l.Renew(t.Context()); err != nil {
			t.Fatalf("Renew: %v", err)
		}
		// Past the first expiry, within the renewed one.
		clock.Advance(leaseTTL - 5*time.Second)
		assertHeld(t, l)
		_, err := s.Acquire(t.Context(), leaseKey, "bot-2", leaseTTL)
		assertHeldBy(t, err, "bot-1")
		clock.Advance(10 * time.Second)
		assertLost(t, "Check after the renewed expiry", l.Check(t.Context()))
		assertLost(t, "Renew after expiry", l.Renew(t.Context()))
		assertLost(t, "Check after a late Renew", l.Check(t.Context()))
	})

	t.Run("release after takeover", func(t *testing.T) {
		// Renew and Release of a lost lease may come in either order.
		for _, first := range []string{"Renew", "Release"} {
			t.Run(first+" first", func(t *testing.T) {
				s, clock := fresh(t)
				old := mustAcquire(t, s, leaseKey, "bot-1", leaseTTL)
				clock.Advance(leaseTTL + time.Second)
				cur := mustAcquire(t, s, leaseKey, "bot-2", leaseTTL)
				ops := map[string]func() error{
					"Renew":   func() error { return old.Renew(t.Context()) },
					"Release": func() error { return old.Release(t.Context()) },
				}
				second := map[string]string{"Renew": "Release", "Release": "Renew"}[first]
				assertLost(t, first, ops[first]())
				assertLost(t, second, ops[second]())
				assertHeld(t, cur)
				clock.Advance(leaseTTL - time.Second)
				assertHeld(t, cur)
			})
		}
	})

	t.Run("tokens increase", func(t *testing.T) {
		s, clock := fresh(t)
		var last int64
		for i := range 6 {
			l := mustAcquire(t, s, leaseKey, fmt.Sprintf("bot-%d", i%2), leaseTTL)
			if l.Token() <= last {
				t.Errorf("acquisition %d: got token %d, want more than %d", i, l.Token(), last)
			}
			last = l.Token()
			if i%2 == 0 {
				if err := l.Release(t.Context()); err != nil {
					t.Fatalf("Release: %v", err)
				}
			} else {
				clock.Advance(leaseTTL + time.Second)
			}
		}
	})

	t.Run("race", func(t *testing.T) {
		s, _ := fresh(t)
		const n = 32
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []string
			held    []*deploy.LeaseHeldError
		)
		ready := make(chan struct{})
		for i := range n {
			holder := fmt.Sprintf("bot-%d", i)
			wg.Go(func() {
				<-ready
				_, err := s.Acquire(t.Context(), leaseKey, holder, leaseTTL)
				mu.Lock()
				defer mu.Unlock()
				var he *deploy.LeaseHeldError
				switch {
				case err == nil:
					winners = append(winners, holder)
				case errors.As(err, &he):
					held = append(held, he)
				default:
					t.Errorf("Acquire by %s: %v", holder, err)
				}
			})
		}
		close(ready)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("winners: got %q, want exactly one", winners)
		}
		if len(held) != n-1 {
			t.Errorf("refused: got %d, want %d", len(held), n-1)
		}
		for _, he := range held {
			if he.Holder != winners[0] || he.Key != leaseKey {
				t.Errorf("LeaseHeldError: got key %q holder %q, want %q held by the winner %q", he.Key, he.Holder, leaseKey, winners[0])
			}
		}
	})

	t.Run("invalid", func(t *testing.T) {
		s, _ := fresh(t)
		for _, tc := range []struct {
			name        string
			key, holder string
			ttl         time.Duration
		}{
			{"no key", "", "bot-1", leaseTTL},
			{"no holder", leaseKey, "", leaseTTL},
			{"zero ttl", leaseKey, "bot-1", 0},
			{"negative ttl", leaseKey, "bot-1", -time.Second},
		} {
			if _, err := s.Acquire(t.Context(), tc.key, tc.holder, tc.ttl); err == nil {
				t.Errorf("%s: Acquire(%q, %q, %v): got nil error, want an error", tc.name, tc.key, tc.holder, tc.ttl)
			}
		}
		// Nothing was taken.
		mustAcquire(t, s, leaseKey, "bot-1", leaseTTL)
	})
}

func mustAcquire(t *testing.T, s Store, key, holder string, ttl time.Duration) deploy.Lease {
	t.Helper()
	l, err := s.Acquire(t.Context(), key, holder, ttl)
	if err != nil {
		t.Fatalf("Acquire(%q, %q): %v", key, holder, err)
	}
	return l
}

func assertHeld(t *testing.T, l deploy.Lease) {
	t.Helper()
	if err := l.Check(t.Context()); err != nil {
		t.Errorf("Check of lease (token %d): got %v, want nil", l.Token(), err)
	}
}

func assertLost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, deploy.ErrLeaseLost) {
		t.Errorf("%s: got %v, want an error wrapping deploy.ErrLeaseLost", what, err)
	}
}

func assertHeldBy(t *testing.T, err error, holder string) {
	t.Helper()
	var he *deploy.LeaseHeldError
	if !errors.As(err, &he) {
		t.Fatalf("Acquire of a held key: got %v, want a *deploy.LeaseHeldError", err)
	}
	if he.Holder != holder || he.Key != leaseKey {
		t.Errorf("LeaseHeldError: got key %q holder %q, want %q held by %q", he.Key, he.Holder, leaseKey, holder)
	}
	if !errors.Is(err, deploy.ErrLeaseHeld) {
		t.Errorf("Acquire of a held key: got %v, want an error wrapping deploy.ErrLeaseHeld", err)
	}
}
