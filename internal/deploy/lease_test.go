package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// stealable hands out leases that another replica can be made to take
// over: from then on they fail their checks and renewals, as a Redis lease
// that ran out does.
type stealable struct {
	deploy.Leaser
	stolen atomic.Bool
}

func (s *stealable) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	l, err := s.Leaser.Acquire(ctx, key, holder, ttl)
	if err != nil {
		return nil, err
	}
	return &stealableLease{Lease: l, s: s}, nil
}

type stealableLease struct {
	deploy.Lease
	s *stealable
}

func (l *stealableLease) lost() error {
	if l.s.stolen.Load() {
		return fmt.Errorf("%w: another replica holds it", deploy.ErrLeaseLost)
	}
	return nil
}

func (l *stealableLease) Check(ctx context.Context) error {
	if err := l.lost(); err != nil {
		return err
	}
	return l.Lease.Check(ctx)
}

func (l *stealableLease) Renew(ctx context.Context) error {
	if err := l.lost(); err != nil {
		return err
	}
	return l.Lease.Renew(ctx)
}

// newStealableFixture is a fixture whose leases a test can have taken
// by another replica (stolen), with a short TTL.
func newStealableFixture(t *testing.T, yaml string) (*fixture, *stealable) {
	t.Helper()
	var leases *stealable
	f := newFixtureWith(t, yaml, func(o *deploy.Options) {
		leases = &stealable{Leaser: o.Leases}
		o.Leases = leases
		o.LeaseTTL = 300 * time.Millisecond
	})
	return f, leases
}

// TestLeaseLostBeforeSwitch checks that a deploy whose lease is lost before
// any host switched ends interrupted, as the replica that takes over
// records it, not failed: nobody is told a deploy failed that another
// replica may still be finishing or reporting.
func TestLeaseLostBeforeSwitch(t *testing.T) {
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "        hosts: [localhost]\n", "        hosts: [localhost]\n        migrate: ask\n        confirm_timeout: 1m\n", 1)
	f, leases := newStealableFixture(t, yaml)
	f.build("1")
	done := make(chan *deploy.Record, 1)
	waiting := make(chan struct{}, 1)
	sink := func(ev deploy.Event) {
		switch ev.Kind {
		case deploy.EventConfirm:
			waiting <- struct{}{}
		case deploy.EventFinished:
			done <- ev.Record
		}
	}
	if _, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}, sink); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the deploy never asked to confirm its migrations")
	}
	leases.stolen.Store(true)
	var rec *deploy.Record
	select {
	case rec = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the deploy did not stop after losing its lease")
	}
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
		t.Errorf("got outcome %s, error %q; want interrupted, saying the lease was lost", rec.Outcome, rec.Error)
	}
	if f.exists("current") {
		t.Error("current exists: a host switched after the lease was lost")
	}
}

// TestLeaseLostDuringActivation: a lease lost while a host restarts
// surfaces as that host's failed health check; the host is not switched
// back (another replica's call by then), and the deploy is interrupted.
func TestLeaseLostDuringActivation(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	f, leases := newStealableFixture(t, fmt.Sprintf(fixtureYAML, gatedRestart(gate)))
	f.build("1")
	f.build("2", tarEntry{name: "BROKEN", body: "x"})
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)

	done := f.deployUntilRestart("2")
	leases.stolen.Store(true) // another replica holds web/prod now
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := <-done
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
		t.Errorf("deploy: got %s (%s), want interrupted by the lost lease", rec.Outcome, rec.Error)
	}
	if got := f.read("restarts.log"); got != "1\n2\n" {
		t.Errorf("restarts: got %q, want only 1 and 2 (no switch back)", got)
	}
	if c := f.link("current"); c != "releases/2" {
		t.Errorf("current -> %s, want releases/2 left as it was", c)
	}
}
