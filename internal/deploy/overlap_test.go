package deploy_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
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
	id, err := f.engine.Cancel("web", "prod", "carol")
	if err != nil {
		t.Errorf("cancel of the second deploy: %v; want it cancelled", err)
	}
	if rec := <-second; rec != nil && (rec.ID != id || rec.Outcome != deploy.OutcomeCancelled) {
		t.Errorf("second deploy %s ended %s (%s); want %s cancelled", rec.ID, rec.Outcome, rec.Error, id)
	}
}
