package train

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
)

// flakyLease renews while ok, else fails as an unreachable store does. It
// counts the renewals answered each way.
type flakyLease struct {
	deploy.Lease
	ok              atomic.Bool
	renewed, failed atomic.Int32
}

func (l *flakyLease) Renew(context.Context) error {
	if l.ok.Load() {
		l.renewed.Add(1)
		return nil
	}
	l.failed.Add(1)
	return errors.New("connection refused")
}

func (l *flakyLease) Release(context.Context) error { return nil }

// waitFor waits until n reaches want, or fails the test after 10 s.
func waitFor(t *testing.T, what string, n *atomic.Int32, want int32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); n.Load() < want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d within 10s, want %d", what, n.Load(), want)
		}
	}
}

// TestDepartureLeaseUnrenewed: a departure lease whose renewals fail for
// its TTL (the store unreachable) has run out, though no renewal said it
// was lost: another replica may hold it by then. Time passes by a clock
// the test moves between the renewals it waits for: a loaded machine
// that holds up a renewal does not run the lease out before the test
// looks.
func TestDepartureLeaseUnrenewed(t *testing.T) {
	const ttl = 300 * time.Millisecond // renewed every 100 ms
	clock := testclock.New(time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC))
	l := &flakyLease{}
	l.ok.Store(true)
	d := &departure{lease: l, ttl: ttl, now: clock.Now, stop: make(chan struct{}), done: make(chan struct{})}
	d.renewed.Store(clock.Now().UnixNano())
	go d.renew(ttl, slog.New(slog.DiscardHandler))
	defer d.release()
	for range 3 {
		clock.Advance(ttl / 2)
		// The second renewal answered from here was asked after the
		// clock moved: the first may have been asked before.
		waitFor(t, "renewals answered", &l.renewed, l.renewed.Load()+2)
	}
	if !d.held() {
		t.Fatal("a lease renewed every third of its TTL, for one and a half TTLs: not held")
	}
	l.ok.Store(false)
	waitFor(t, "renewals failed", &l.failed, 1)
	clock.Advance(2 * ttl)
	if d.held() {
		t.Error("a lease not renewed for twice its TTL: still held")
	}
}

// slowLeases is a store whose answers to Acquire and Renew arrive a TTL
// after it took them, by clock: the lease runs from when the call was
// made, not from when its answer arrived.
type slowLeases struct {
	ttl     time.Duration
	clock   atomic.Int64 // Unix ns
	renewed atomic.Int32 // renewals answered
}

func (s *slowLeases) now() time.Time { return time.Unix(0, s.clock.Load()) }

func (s *slowLeases) Acquire(context.Context, string, string, time.Duration) (deploy.Lease, error) {
	s.clock.Add(int64(s.ttl))
	return &slowLease{s: s}, nil
}

func (s *slowLeases) Holder(context.Context, string) (string, error) { return "", nil }

type slowLease struct {
	deploy.Lease
	s *slowLeases
}

func (l *slowLease) Renew(context.Context) error {
	l.s.clock.Add(int64(l.s.ttl))
	l.s.renewed.Add(1)
	return nil
}

func (l *slowLease) Release(context.Context) error { return nil }

// TestDepartureLeaseSlowStore: a departure lease runs for its TTL from
// when it was taken or renewed, which is before the store's answer
// arrives. Counted from the answer, a replica whose store was slow to
// answer believed it still held the lease after it had run out, while
// another replica could take it.
func TestDepartureLeaseSlowStore(t *testing.T) {
	const ttl = 60 * time.Millisecond // renewed every 20ms
	for _, tt := range []struct {
		name string
		wait int32 // renewals answered before looking
	}{
		{name: "taken", wait: 0},
		{name: "renewed", wait: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			leases := &slowLeases{ttl: ttl}
			leases.clock.Store(time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC).UnixNano())
			s := &Scheduler{leases: leases, leaseTTL: ttl, leaseClock: leases.now, log: slog.New(slog.DiscardHandler)}
			d, err := s.claim(t.Context(), "daily")
			if err != nil {
				t.Fatal(err)
			}
			defer d.release()
			deadline := time.Now().Add(10 * time.Second)
			for leases.renewed.Load() < tt.wait {
				if time.Now().After(deadline) {
					t.Fatalf("no renewal answered within 10s")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if d.held() {
				t.Errorf("held: true, want false: the store's answer came a TTL (%s) after it took the lease, which had run out then", ttl)
			}
		})
	}
}
