package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestPruneAfterTheLeaseWasLost: a deploy whose lease is taken by another
// replica after its last fencing check, once its hosts have switched,
// removes no old release: the replica holding the app+env now may be
// switching to one, or rolling back to it. It says that it left them, and
// why, and ends interrupted, as any deploy that lost its lease does.
func TestPruneAfterTheLeaseWasLost(t *testing.T) {
	f, leases := newStealableFixtureTTL(t, fmt.Sprintf(fixtureYAML, "true"), stealTTL)
	for _, b := range []string{"1", "2", "3", "4"} {
		f.build(b)
	}
	for _, b := range []string{"1", "2", "3"} {
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	f.watch = func(ev deploy.Event) {
		if ev.Kind == deploy.EventStep && ev.Step == deploy.StepRestart && !ev.Done {
			// The last host switches: the next check, the one
			// before the prune, is the last that finds the lease
			// held.
			leases.stealAfterCheck.Store(true)
		}
	}
	rec, err := f.run(deploy.KindDeploy, "4")
	if err != nil {
		t.Fatal(err)
	}
	notes := f.noteTexts()
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
