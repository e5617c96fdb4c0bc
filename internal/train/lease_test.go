package train

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// flakyLease renews while ok, else fails as an unreachable store does.
type flakyLease struct {
	deploy.Lease
	ok atomic.Bool
}

func (l *flakyLease) Renew(context.Context) error {
	if l.ok.Load() {
		return nil
	}
	return errors.New("connection refused")
}

func (l *flakyLease) Release(context.Context) error { return nil }

// TestDepartureLeaseUnrenewed: a departure lease whose renewals fail for
// its TTL (the store unreachable) has run out, though no renewal said it
// was lost: another replica may hold it by then.
func TestDepartureLeaseUnrenewed(t *testing.T) {
	const ttl = time.Second
	l := &flakyLease{}
	l.ok.Store(true)
	d := &departure{lease: l, ttl: ttl, now: time.Now, stop: make(chan struct{}), done: make(chan struct{})}
	d.renewed.Store(time.Now().UnixNano())
	go d.renew(ttl, slog.New(slog.DiscardHandler))
	defer d.release()
	time.Sleep(3 * ttl / 2)
	if !d.held() {
		t.Fatal("a lease renewed every third of its TTL: not held")
	}
	l.ok.Store(false)
	time.Sleep(2 * ttl)
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
