package deploy_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// heldHistory holds every read of an app/env's deploy history back past
// its newest few records (the whole of it, or the newest hundred and
// more) while held is set, until release is closed, as a store does that
// has to read thousands of records for it, and says on reading when one
// begins. The short reads (the newest records, the running ones) answer.
type heldHistory struct {
	deploy.Store
	held    *atomic.Bool
	reading chan struct{}
	release chan struct{}
}

func (s heldHistory) Records(ctx context.Context, f deploy.Filter) ([]*deploy.Record, error) {
	if s.held.Load() && f.App != "" && (f.Limit == 0 || f.Limit >= 100) && f.Outcome == "" {
		select {
		case s.reading <- struct{}{}:
		default:
		}
		<-s.release
	}
	return s.Store.Records(ctx, f)
}

// TestRollbackSwitchesWhileTheHistoryIsRead: a rollback reads the deploy
// history of its app/env, back to the last run of its release, to say
// which migrations stay applied.
// With thousands of deploys in the store that read is the slow one, and
// it came before the first switch: in an incident, the rollback restored
// service only once the store had answered it (or given up, 10 s later).
// The switch goes ahead while the read is under way; the warning still
// comes, in the progress and in the record the report shows.
func TestRollbackSwitchesWhileTheHistoryIsRead(t *testing.T) {
	var held atomic.Bool
	hs := heldHistory{held: &held, reading: make(chan struct{}, 1), release: make(chan struct{})}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		hs.Store = o.Store
		o.Store = hs
	})
	released := false
	release := func() {
		if !released {
			released = true
			close(hs.release)
		}
	}
	t.Cleanup(release)

	// A long history: deploys of the app/env before these, none of
	// build 1, so that the newest hundred a rollback reads first do not settle
	// where 1 last ran and the rollback reads all of them, the read
	// heldHistory holds. That read is slow in the field because of
	// thousands of records; here heldHistory makes it slow, and a few
	// hundred records (each written with its own fsync) take the same
	// path: 5,000 of them took 30 s of a run's writes on a loaded disk.
	ctx := context.Background()
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		at := old.Add(time.Duration(i) * time.Minute)
		rec := &deploy.Record{ID: fmt.Sprintf("20240101-000000-%06d", i), Kind: deploy.KindDeploy, App: "web", Env: "prod",
			Build: fmt.Sprint(100 + i%7), Requester: "ana", Started: at, Finished: at.Add(time.Second), Outcome: deploy.OutcomeSucceeded}
		if err := f.store.PutRecord(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	f.build("1")
	f.build("2", tarEntry{name: "migrations/002_email.sql", body: "x"})
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	d2 := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	want := fmt.Sprintf("the migrations run since 1 stay applied: 002_email.sql (deploy %s of 2); a rollback does not undo them, and 1 now runs on the migrated database", d2.ID)

	held.Store(true)
	switched := make(chan struct{}, 1)
	done := make(chan *deploy.Record, 1)
	failed := make(chan error, 1)
	sink := func(ev deploy.Event) {
		f.sink(ev)
		switch {
		case ev.Kind == deploy.EventStep && ev.Step == deploy.StepActivate && ev.Done && ev.Err == "":
			select {
			case switched <- struct{}{}:
			default:
			}
		case ev.Kind == deploy.EventFinished:
			done <- ev.Record
		}
	}
	go func() {
		if _, err := f.engine.Rollback(ctx, deploy.Request{App: "web", Env: "prod", Requester: "ana"}, sink); err != nil {
			failed <- err
		}
	}()

	// The history read begins, and is held until the host has switched.
	bound := time.After(20 * time.Second)
	select {
	case <-hs.reading:
	case err := <-failed:
		t.Fatalf("rollback: %v", err)
	case <-bound:
		t.Fatal("the rollback did not read the deploy history")
	}
	select {
	case <-switched:
	case err := <-failed:
		t.Fatalf("rollback: %v", err)
	case <-bound:
		release()
		t.Fatal("the rollback switched no host while its read of the deploy history was under way: the switch waits for it")
	}
	if got := f.link("current"); got != "releases/1" {
		t.Errorf("current -> %s while the history is read, want releases/1", got)
	}
	release()

	select {
	case rb := <-done:
		if rb.Outcome != deploy.OutcomeSucceeded || rb.Build != "1" {
			t.Fatalf("rollback: got %s to %s (%s), want succeeded to 1", rb.Outcome, rb.Build, rb.Error)
		}
		if rb.SchemaKept != want {
			t.Errorf("record: got %q, want %q", rb.SchemaKept, want)
		}
	case err := <-failed:
		t.Fatalf("rollback: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the rollback did not finish within 30 s of the history read")
	}
	if !f.sawNote("⚠ " + want) {
		t.Errorf("no note %q", "⚠ "+want)
	}
	stored, err := f.store.Records(ctx, deploy.Filter{App: "web", Env: "prod", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].Kind != deploy.KindRollback || stored[0].SchemaKept != want {
		t.Errorf("stored record: got %+v, want the rollback's, with %q", stored, want)
	}
}
