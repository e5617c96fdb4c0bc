package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// takeoverStore hands a run's record over to another replica once a
// write shows host failed and not switched: that write is kept, the lease
// is taken (leases.stolen), and each later write of the run, under its old
// token, is refused as the store refuses a record another lease took over.
type takeoverStore struct {
	deploy.Store
	leases      *stealable
	build, host string

	mu    sync.Mutex
	id    string // the record taken over
	fence int64  // its token then
}

func (s *takeoverStore) PutRecord(ctx context.Context, rec *deploy.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != "" && rec.ID == s.id && rec.Fence <= s.fence {
		return fmt.Errorf("put record %s: %w", rec.ID, deploy.StaleRecord(s.fence+1, rec.Fence))
	}
	if err := s.Store.PutRecord(ctx, rec); err != nil {
		return err
	}
	if hr := rec.Host(s.host); s.id == "" && rec.Build == s.build && hr != nil && hr.State == deploy.HostFailed && !hr.MayHaveSwitched() {
		s.id, s.fence = rec.ID, rec.Fence
		s.leases.stolen.Store(true)
	}
	return nil
}

// releaseGonePool is a pool whose drain of host removes release build
// there once armed: the switch that follows fails before `current` moves.
type releaseGonePool struct {
	fakePool
	dir, host, build string
	armed            bool
}

func (p *releaseGonePool) Drain(ctx context.Context, h deploy.Host) error {
	p.mu.Lock()
	gone := p.armed && h.Name == p.host
	p.mu.Unlock()
	if gone {
		if err := os.RemoveAll(filepath.Join(p.dir, "releases", p.build)); err != nil {
			return err
		}
	}
	return p.fakePool.Drain(ctx, h)
}

// TestLeftOutRecordedWhenTheLeaseIsTakenOver: a host drained for a switch
// that failed before `current` moved, whose run lost its lease to another
// replica before it could put it back, is left out (the holder may have
// drained it), and the next run puts it back: the record the store kept,
// written before the takeover, says the run left it out. A host recorded
// failed and not switched alone read as one someone took out, which a run
// restarts but leaves out of rotation, for good.
func TestLeftOutRecordedWhenTheLeaseIsTakenOver(t *testing.T) {
	pool := &releaseGonePool{fakePool: fakePool{state: map[string]string{}}, host: "h0", build: "3"}
	var (
		leases *stealable
		st     *takeoverStore
	)
	f := newPoolFixtureWith(t, pool, func(o *deploy.Options) {
		leases = &stealable{Leaser: o.Leases}
		o.Leases = leases
		// Taken by hand (stolen): a TTL a loaded machine's renewals
		// cannot miss keeps it from running out first.
		o.LeaseTTL = 10 * time.Second
		st = &takeoverStore{Store: o.Store, leases: leases, build: "3", host: "h0"}
		o.Store = st
	}, "h0", "h1")
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	pool.mu.Lock()
	pool.dir, pool.armed = f.app+"-h0", true
	pool.mu.Unlock()
	f.build("3")
	rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeInterrupted)
	if !leases.stolen.Load() {
		t.Fatal("the lease was never taken over: h0 never failed")
	}
	if got := pool.get("h0"); got != "maint" {
		t.Fatalf("h0 is %q in the load balancer after the deploy of 3 lost its lease; want %q, as its drain left it", got, "maint")
	}
	stored, err := st.Record(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if hr := stored.Host("h0"); hr == nil || !hr.LeftOut {
		t.Errorf("h0 in the stored record of the deploy of 3: got %+v, want it left out", hr)
	}

	// The other replica's run has ended; the next one is this replica's.
	leases.stolen.Store(false)
	pool.mu.Lock()
	pool.armed = false
	pool.mu.Unlock()
	f.build("4")
	f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeSucceeded)
	if got := pool.get("h0"); got != "ready" {
		t.Errorf("h0 is %q in the load balancer after the next deploy; want %q: the deploy of 3 left it out", got, "ready")
	}
}
