package commands_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRollbackOfADeploy: `rollback DEPLOY-ID`, what a Rollback button
// sends where its full command is too long, rolls back from what that
// deploy put live, only while it runs, with the requester's permission
// checked on the deploy's app and env.
func TestRollbackOfADeploy(t *testing.T) {
	f := newServiceFixture(t)
	f.do("bob", "deploy web 1")
	_, _, d2 := f.do("bob", "deploy web 2")
	if d2 == nil || d2.Outcome != "succeeded" {
		t.Fatalf("deploy 2: %+v", d2)
	}
	if r, out, _ := f.do("carl", "rollback "+d2.ID); !r.Failed || !strings.Contains(out.last(), "rollback") {
		t.Errorf("carl, who may not roll back: failed %v, %q", r.Failed, out.last())
	}
	r, out, rb := f.do("bob", "rollback "+d2.ID)
	if r.Failed || rb == nil || rb.Build != "1" || rb.Previous != "2" || rb.App != "web" || rb.Env != "prod" {
		t.Fatalf("bob's rollback of %s: failed %v, %q, %+v; want web/prod from 2 to 1", d2.ID, r.Failed, out.last(), rb)
	}
	f.do("ana", "unlock deploys web prod")
	f.do("bob", "deploy web 2")
	// The rollback's own id: from what it restored, 1, which runs no more.
	if r, out, _ := f.do("bob", "rollback "+rb.ID); !r.Failed || !strings.Contains(out.last(), "runs 2 now, not 1") {
		t.Errorf("rollback of the rollback after a later deploy: failed %v, %q; want refused", r.Failed, out.last())
	}
	if r, out, _ := f.do("bob", "rollback 20261123-124158-b25a0a"); !r.Failed || !strings.Contains(out.last(), "there is no deploy 20261123-124158-b25a0a") {
		t.Errorf("an unknown deploy: failed %v, %q", r.Failed, out.last())
	}
}

// TestRollbackOfAnInterruptedRun: `rollback RUN-ID` of a run that stopped
// half-way, the short form of its message's button, undoes that run: back
// to the release it left, not to whatever the previous link names.
func TestRollbackOfAnInterruptedRun(t *testing.T) {
	f := newServiceFixture(t)
	artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-3.tar.gz"), tgz(t, map[string]string{"BUILD": "3"}))
	var last *deploy.Record
	for _, b := range []string{"1", "2", "3"} {
		if _, _, last = f.do("bob", "deploy web "+b); last == nil || last.Outcome != deploy.OutcomeSucceeded {
			t.Fatalf("deploy %s: %+v", b, last)
		}
	}
	// As if deploy 3 had come from 1 and its process had died after the
	// switch: the previous link names 2, which the button must not pick.
	// A copy: the engine's sink may still read the record it sent.
	d := *last
	d.Hosts = slices.Clone(last.Hosts)
	d.Outcome, d.Previous, d.Error = deploy.OutcomeInterrupted, "1", "the bot stopped before it finished"
	if err := f.store.PutRecord(context.Background(), &d); err != nil {
		t.Fatal(err)
	}
	b, ok := commands.InterruptedButton(&d)
	if !ok || b.Action != "rollback web prod to 1 from 3" || b.Short != "rollback "+d.ID {
		t.Fatalf("button: %+v, %v", b, ok)
	}
	r, out, rb := f.do("bob", b.Short)
	if r.Failed || rb == nil || rb.Build != "1" || rb.Previous != "3" || rb.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("rollback %s: failed %v, %q, %+v; want from 3 to 1", d.ID, r.Failed, out.last(), rb)
	}
}
