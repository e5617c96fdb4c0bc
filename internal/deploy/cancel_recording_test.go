package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// cancelledWhileRecorded is a store that, as a run writes the record of
// its start, has it cancelled: past the run's check for a cancel while it
// opened its hosts, before it is registered as running.
type cancelledWhileRecorded struct {
	deploy.Store
	cancel    func() (deploy.Cancelled, error)
	armed     atomic.Bool
	cancelled deploy.Cancelled
	err       error
	// recorded is set once the start is recorded.
	recorded atomic.Bool
}

func (s *cancelledWhileRecorded) PutRecord(ctx context.Context, r *deploy.Record) error {
	if r.Outcome == deploy.OutcomeRunning && s.armed.CompareAndSwap(true, false) {
		s.cancelled, s.err = s.cancel()
		defer s.recorded.Store(true)
	}
	return s.Store.PutRecord(ctx, r)
}

// countedTransport counts the scripts its sessions run once after is set.
type countedTransport struct {
	deploy.Transport
	after *atomic.Bool
	runs  *atomic.Int32
}

func (t countedTransport) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := t.Transport.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return countedSession{Session: s, t: t}, nil
}

type countedSession struct {
	deploy.Session
	t countedTransport
}

func (s countedSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	if s.t.after.Load() {
		s.t.runs.Add(1)
	}
	return s.Session.Run(ctx, cmd)
}

// TestCancelWhileTheStartIsRecorded: a cancel that finds the deploy still
// starting is answered that it switched no host and will switch none, even
// when the run is writing the record of its start: the run then ends
// cancelled before it touches a host, even one where a run whose process
// died may have left a script running, which a run stops first.
func TestCancelWhileTheStartIsRecorded(t *testing.T) {
	for _, tt := range []struct {
		name string
		dead bool // a run whose process died left web/prod running
	}{
		{name: "fresh hosts"},
		{name: "a dead run's leftovers", dead: true},
	} {
		t.Run(tt.name, func(t *testing.T) { cancelWhileRecorded(t, tt.dead) })
	}
}

func cancelWhileRecorded(t *testing.T, dead bool) {
	store := &cancelledWhileRecorded{}
	var runs atomic.Int32
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		store.Store = o.Store
		o.Store = store
		o.Transports["local"] = countedTransport{Transport: o.Transports["local"], after: &store.recorded, runs: &runs}
	})
	store.cancel = func() (deploy.Cancelled, error) { return f.engine.Cancel("web", "prod", "bob") }
	f.build("1")
	if dead {
		rec := f.putDead("1", deploy.HostResult{Host: "localhost", State: deploy.HostDelivering})
		rec.Run = strings.Repeat("a", deploy.RunTokenLen)
		if err := f.store.PutRecord(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	store.armed.Store(true)
	done := make(chan *deploy.Record, 1)
	_, err := f.engine.Deploy(t.Context(), deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}, func(ev deploy.Event) {
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	})
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	rec := <-done
	if store.err != nil || store.cancelled.Started {
		t.Fatalf("cancel while the start was recorded: got %+v, %v; want the deploy cancelled before it started", store.cancelled, store.err)
	}
	if rec.Outcome != deploy.OutcomeCancelled || !strings.Contains(rec.Error, "cancelled by bob") || !strings.Contains(rec.Error, "nothing was switched") {
		t.Errorf("deploy: got %s (%s), want cancelled by bob, nothing switched", rec.Outcome, rec.Error)
	}
	if n := runs.Load(); n != 0 {
		t.Errorf("scripts run on the host after the start was recorded: got %d, want none", n)
	}
	if got := f.releases(); len(got) != 0 || f.exists("current") || f.exists("restarts.log") {
		t.Errorf("host after the cancel: releases %v, current %v, restarted %v; want it untouched", got, f.exists("current"), f.exists("restarts.log"))
	}
}
