package commands_test

import (
	"strings"
	"testing"
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
