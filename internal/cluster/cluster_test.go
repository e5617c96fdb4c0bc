package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/storetest"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOneLeaderAtATime: while a replica renews the lease, another trying
// to take it does not lead, for as long as it tries; once the first stops
// and releases it, the other takes over. Time passes by the store's and the
// replicas' clock, which the test moves, so a loaded machine that holds up
// a renewal does not hand the lease over early.
func TestOneLeaderAtATime(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	st, err := embedded.Open(filepath.Join(t.TempDir(), "s.db"), embedded.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const ttl = 3 * time.Second
	a := &Leader{Leases: st, ID: "a", TTL: ttl, Now: clock.Now}
	b := &Leader{Leases: st, ID: "b", TTL: ttl, Now: clock.Now}
	ctx := t.Context()
	a.step(ctx)
	if !a.IsLeader() {
		t.Fatal("a does not lead: it did not take the free lease")
	}
	// b keeps trying for three TTLs; a keeps the lease by renewing it
	// every third of one, as Run does.
	for i := range 9 {
		b.step(ctx)
		if a.IsLeader() == b.IsLeader() {
			t.Fatalf("after %s: leaders a=%v b=%v, want exactly one", time.Duration(i)*ttl/3, a.IsLeader(), b.IsLeader())
		}
		clock.Advance(ttl / 3)
		a.step(ctx)
	}
	if !a.IsLeader() || b.IsLeader() {
		t.Fatalf("after three TTLs: leaders a=%v b=%v, want a alone, renewing", a.IsLeader(), b.IsLeader())
	}
	// a stops (and releases): b takes over.
	ctxA, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { a.Run(ctxA); close(doneA) }()
	stopA()
	<-doneA
	b.step(ctx)
	if !b.IsLeader() {
		t.Error("b does not lead after a stopped")
	}
	if a.IsLeader() {
		t.Error("a still leads after it stopped")
	}
}

// flaky hands out leases whose next renewal fails with failNext, once.
type flaky struct {
	deploy.Leaser
	failNext error
}

func (f *flaky) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	l, err := f.Leaser.Acquire(ctx, key, holder, ttl)
	if err != nil {
		return nil, err
	}
	return &flakyLease{Lease: l, f: f}, nil
}

type flakyLease struct {
	deploy.Lease
	f *flaky
}

func (l *flakyLease) Renew(ctx context.Context) error {
	if err := l.f.failNext; err != nil {
		l.f.failNext = nil
		return err
	}
	return l.Lease.Renew(ctx)
}

// TestRenewalTimeoutKeepsTheLease: a renewal that fails without saying the
// lease is lost (a timeout) stops this replica leading until a renewal
// succeeds; it does not forget the lease, which nobody, itself included,
// could take until it expired.
func TestRenewalTimeoutKeepsTheLease(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "s.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	leases := &flaky{Leaser: st}
	a := &Leader{Leases: leases, ID: "a", TTL: time.Minute}
	ctx := context.Background()
	steps := []struct {
		failNext error
		lead     bool
	}{
		{nil, true}, // takes the lease
		{context.DeadlineExceeded, false},
		{nil, true}, // renewed: leads again at once
		{fmt.Errorf("%w: taken", deploy.ErrLeaseLost), false}, // lost; held by itself still, so not taken back
	}
	for i, s := range steps {
		leases.failNext = s.failNext
		a.step(ctx)
		if got := a.IsLeader(); got != s.lead {
			t.Fatalf("step %d (renewal error %v): leader %v, want %v", i, s.failNext, got, s.lead)
		}
	}
}

// TestNoTwoLeadersAfterAPause: a leader paused past its lease's TTL (its
// clock and the store's move on together) does not lead while another
// replica holds the lease, even before its next renewal says so.
func TestNoTwoLeadersAfterAPause(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	st, err := embedded.Open(filepath.Join(t.TempDir(), "s.db"), embedded.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const ttl = 3 * time.Second // renewed every second
	a := &Leader{Leases: st, ID: "a", TTL: ttl, Now: clock.Now}
	b := &Leader{Leases: st, ID: "b", TTL: ttl, Now: clock.Now}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go a.Run(ctx)
	waitFor(t, "a to lead", a.IsLeader)
	clock.Advance(ttl + time.Second) // a was paused past its TTL
	go b.Run(ctx)
	waitFor(t, "b to lead", b.IsLeader)
	for start := time.Now(); time.Since(start) < 2*time.Second; time.Sleep(10 * time.Millisecond) {
		if a.IsLeader() && b.IsLeader() {
			t.Fatal("a and b both lead")
		}
	}
}
