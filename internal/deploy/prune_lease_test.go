package deploy_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestPruneAfterTheLeaseWasLost: a deploy whose lease is taken by another
// replica after its last fencing check, once its hosts have switched,
// removes no old release: the replica holding the app+env now may be
// switching to one, or rolling back to it. It says that it left them, and
// why, and ends interrupted, as any deploy that lost its lease does.
func TestPruneAfterTheLeaseWasLost(t *testing.T) {
	f, leases := newStealableFixture(t, fmt.Sprintf(fixtureYAML, "true"))
	for _, b := range []string{"1", "2", "3", "4"} {
		f.build(b)
	}
	for _, b := range []string{"1", "2", "3"} {
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	done := make(chan *deploy.Record, 1)
	var notes []string
	_, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "4", Requester: "ana"}, func(ev deploy.Event) {
		if ev.Kind == deploy.EventStep && ev.Step == deploy.StepRestart && !ev.Done {
			// The last host switches: the next check, the one
			// before the prune, is the last that finds the lease
			// held.
			leases.stealAfterCheck.Store(true)
		}
		if ev.Kind == deploy.EventNote {
			notes = append(notes, ev.Text)
		}
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var rec *deploy.Record
	select {
	case rec = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the deploy of 4 did not end within 30 s")
	}
	if !leases.stolen.Load() {
		t.Fatal("the lease was never taken over: no check after the restart")
	}
	if got, want := f.releases(), []string{"1", "2", "3", "4"}; !slices.Equal(got, want) {
		t.Errorf("releases: got %v, want %v (none pruned after the lease was lost)", got, want)
	}
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
		t.Errorf("deploy of 4: got %s (%s), want interrupted by the lost lease", rec.Outcome, rec.Error)
	}
	const said = "old releases left in place on localhost: this replica lost the deploy lease"
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, said) }) {
		t.Errorf("notes: got %q, want one starting %q", notes, said)
	}
}
