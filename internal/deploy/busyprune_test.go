package deploy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestBusyBehindAPruningDeploy: a deploy or rollback refused behind a
// deploy that had switched every host and was only removing old releases
// was told "cancel web prod stops that deploy and switches its hosts
// back", which that cancel is refused for: past the switch the deploy is
// not cancelled. The refusal says where that deploy is instead, and what
// undoes it once it has ended.
func TestBusyBehindAPruningDeploy(t *testing.T) {
	f, g, done := pruningDeploy(t)
	refusedBehindPrune(t, f, g, done, f.engine)
}

// TestBusyBehindAnotherReplicasPruningDeploy: behind a deploy that another
// replica runs, which has switched every host and is only removing old
// releases, a deploy or rollback was told to cancel it, as if it were
// under way: only the replica running it knew it was past its switch, and
// the cancel it offered would have been refused there. Its record says so
// now, and the refusal is the one given on that replica.
func TestBusyBehindAnotherReplicasPruningDeploy(t *testing.T) {
	var other *deploy.Engine
	f, g, done := pruningDeployWith(t, func(o *deploy.Options) { other = otherReplica(o) })
	refusedBehindPrune(t, f, g, done, other)
}

// refusedBehindPrune runs a deploy and a rollback on eng behind the
// pruning deploy f runs, held at g, and checks each is refused with where
// that deploy is; then lets it end.
func refusedBehindPrune(t *testing.T, f *fixture, g *pruneGate, done chan *deploy.Record, eng *deploy.Engine) {
	t.Helper()
	tests := []struct {
		name string
		kind deploy.Kind
		want string
	}{
		{"deploy", deploy.KindDeploy, "nothing was deployed: that deploy has switched web/prod to 5 already and is only removing old releases, so it is not cancelled; try again once it has ended"},
		{"rollback", deploy.KindRollback, "nothing was rolled back: that deploy has switched web/prod to 5 already and is only removing old releases, so it is not cancelled; once it has ended, " + suggest.Command("rollback web prod") + " undoes it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := deploy.Request{App: "web", Env: "prod", Build: "4", Requester: "bob"}
			var err error
			if tt.kind == deploy.KindRollback {
				req.Build = ""
				_, err = eng.Rollback(context.Background(), req, nil)
			} else {
				_, err = eng.Deploy(context.Background(), req, nil)
			}
			got := errs.Message(err)
			if errs.CodeOf(err) != errs.Conflict || !strings.Contains(got, tt.want) || strings.Contains(got, "switches its hosts back") {
				t.Errorf("got %v %q, want a conflict saying %q", errs.CodeOf(err), got, tt.want)
			}
		})
	}
	close(g.release)
	if rec := <-done; rec.Outcome != deploy.OutcomeSucceeded || f.link("current") != "releases/5" {
		t.Errorf("got outcome %s (%s), current %q; want succeeded on 5", rec.Outcome, rec.Error, f.link("current"))
	}
}

// TestCancelFromAnotherReplicaDuringPrune: a cancel received by a replica
// that does not run the deploy, once that deploy has switched every host
// and only removes old releases, was passed on and its giver told the
// deploy was being cancelled; the replica running it then refused it, in
// its progress only. It is refused where it is given, as on the replica
// running the deploy, and nothing is passed on.
func TestCancelFromAnotherReplicaDuringPrune(t *testing.T) {
	var other *deploy.Engine
	f, g, done := pruningDeployWith(t, func(o *deploy.Options) {
		o.Signals = o.Store.(deploy.Signals)
		other = otherReplica(o)
	})
	_, err := other.SignalCancel(context.Background(), "web", "prod", "bob")
	want := "has switched web/prod to 5 already and is only removing old releases: it is not cancelled; to undo it: " + suggest.Command("rollback web prod")
	if errs.CodeOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), want) {
		t.Errorf("cancel from the other replica: got %v, want a conflict saying %q", err, want)
	}
	running, rerr := f.store.Records(context.Background(), deploy.Filter{Outcome: deploy.OutcomeRunning})
	if rerr != nil || len(running) != 1 {
		t.Fatalf("the running deploy: %+v, %v; want one", running, rerr)
	}
	if by, ok, err := f.store.TakeSignal(context.Background(), running[0].ID, "cancel"); err != nil || ok {
		t.Errorf("cancel signal left for the deploy: %q, %v, %v; want none", by, ok, err)
	}
	close(g.release)
	if rec := <-done; rec.Outcome != deploy.OutcomeSucceeded || f.link("current") != "releases/5" {
		t.Errorf("got outcome %s (%s), current %q; want succeeded on 5", rec.Outcome, rec.Error, f.link("current"))
	}
}
