package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// handover is a Leaser whose first released lease, once released, lets
// the next run of the app+env start before Release returns: the moment
// between a run giving up its app+env and forgetting it, stretched.
type handover struct {
	deploy.Leaser
	once  sync.Once
	after func()
}

func (h *handover) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	l, err := h.Leaser.Acquire(ctx, key, holder, ttl)
	if err != nil {
		return nil, err
	}
	return &handoverLease{Lease: l, h: h}, nil
}

type handoverLease struct {
	deploy.Lease
	h *handover
}

func (l *handoverLease) Release(ctx context.Context) error {
	err := l.Lease.Release(ctx)
	if l.h.after != nil {
		l.h.once.Do(l.h.after)
	}
	return err
}

// TestRunEndingForgetsOnlyItself: a run that ends after the next run of
// its app+env has started (it took the lease the first gave up) leaves
// that run known to the engine: it can be cancelled, and it is running.
func TestRunEndingForgetsOnlyItself(t *testing.T) {
	h := &handover{}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "sleep 1"), func(o *deploy.Options) {
		h.Leaser = o.Leases
		o.Leases = h
	})
	f.build("1")
	f.build("2")
	second := make(chan *deploy.Record, 1)
	restarting := make(chan struct{})
	var once sync.Once
	h.after = func() {
		// Started in full (recorded, its progress begun) before the first
		// run goes on from releasing its lease.
		if _, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", Requester: "bob"}, func(ev deploy.Event) {
			if ev.Kind == deploy.EventStep && ev.Step == deploy.StepRestart {
				once.Do(func() { close(restarting) })
			}
			if ev.Kind == deploy.EventFinished {
				second <- ev.Record
			}
		}); err != nil {
			t.Errorf("second deploy: %v", err)
			close(second)
			once.Do(func() { close(restarting) })
		}
	}
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	running := f.engine.Running()
	if len(running) != 1 || running[0].Build != "2" {
		var got []string
		for _, r := range running {
			got = append(got, r.ID+" of "+r.Build)
		}
		t.Errorf("running after the first deploy ended: %v; want the deploy of 2", got)
	}
	<-restarting // its restart takes a second: the cancel finds it switching
	cd, err := f.engine.Cancel("web", "prod", "carol")
	id := cd.ID
	if err != nil {
		t.Errorf("cancel of the second deploy: %v; want it cancelled", err)
	}
	if rec := <-second; rec != nil && (rec.ID != id || rec.Outcome != deploy.OutcomeCancelled) {
		t.Errorf("second deploy %s ended %s (%s); want %s cancelled", rec.ID, rec.Outcome, rec.Error, id)
	}
}

// pruneGate is a local transport whose prune steps wait until release is
// closed, once they said so on pruning.
type pruneGate struct {
	local.Transport
	pruning chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *pruneGate) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := g.Transport.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return &pruneGateSession{Session: s, g: g}, nil
}

type pruneGateSession struct {
	deploy.Session
	g *pruneGate
}

func (s *pruneGateSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	if strings.Contains(cmd.Script, "pruned=") {
		s.g.once.Do(func() { close(s.g.pruning) })
		<-s.g.release
	}
	return s.Session.Run(ctx, cmd)
}

// TestCancelOnceEveryHostSwitched: a cancel that arrives once the deploy
// switched its hosts, while it removes old releases, is refused, saying
// so and how to undo the deploy, rather than accepted and ignored (the
// reply said hosts would be switched back, and the deploy then ended
// succeeded).
func TestCancelOnceEveryHostSwitched(t *testing.T) {
	f, g, done := pruningDeploy(t)
	_, err := f.engine.Cancel("web", "prod", "bob")
	close(g.release)
	rec := <-done
	if errs.CodeOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), "not cancelled") || !strings.Contains(errs.Message(err), "rollback web prod") {
		t.Errorf("cancel while pruning: got %v, want it refused, saying how to undo the deploy", err)
	}
	if rec.Outcome != deploy.OutcomeSucceeded || f.link("current") != "releases/5" {
		t.Errorf("got outcome %s (%s), current %q; want succeeded on 5", rec.Outcome, rec.Error, f.link("current"))
	}
}

// pruningDeploy starts web/prod's deploy of 5, after 1 to 4, and returns
// once it has switched every host and is removing old releases, held
// there until g.release is closed; done gets its record as it ends.
func pruningDeploy(t *testing.T) (f *fixture, g *pruneGate, done chan *deploy.Record) {
	t.Helper()
	return pruningDeployWith(t, func(*deploy.Options) {})
}

// pruningDeployWith is pruningDeploy whose engine's options opt adjusts
// last.
func pruningDeployWith(t *testing.T, opt func(*deploy.Options)) (f *fixture, g *pruneGate, done chan *deploy.Record) {
	t.Helper()
	g = &pruneGate{pruning: make(chan struct{}), release: make(chan struct{})}
	f = newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Transports["local"] = g
		opt(o)
	})
	close(g.release)
	for _, b := range []string{"1", "2", "3", "4"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	// Three releases kept: the next deploy prunes again.
	f.build("5")
	g.once, g.pruning, g.release = sync.Once{}, make(chan struct{}), make(chan struct{})
	done = make(chan *deploy.Record, 1)
	if _, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "5", Requester: "ana"}, func(ev deploy.Event) {
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	}); err != nil {
		t.Fatal(err)
	}
	<-g.pruning
	return f, g, done
}
