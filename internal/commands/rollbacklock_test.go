package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestStatusOfAnInterruptedRollbackThatLocked: the choice status offers
// after a rollback interrupted once it had locked its app+env puts the
// unlock before a new deploy, which the lock would refuse; once someone
// has unlocked, it is the plain deploy again.
func TestStatusOfAnInterruptedRollbackThatLocked(t *testing.T) {
	f := newServiceFixture(t)
	for _, b := range []string{"1", "2"} {
		if _, _, rec := f.do("bob", "deploy web "+b); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
			t.Fatalf("deploy %s: %+v", b, rec)
		}
	}
	_, _, rb := f.do("bob", "rollback web prod")
	if rb == nil || rb.Outcome != deploy.OutcomeSucceeded || !rb.Locked {
		t.Fatalf("rollback: %+v; want it succeeded, having locked web/prod", rb)
	}
	// Its process died after its switch, before the restart.
	d := *rb
	d.Outcome = deploy.OutcomeInterrupted
	d.Error = "the process running this rollback (gone:1) stopped before it finished; hosts are as observed at recovery; " + d.LockKept()
	d.Hosts = []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating, Current: "1", Previous: "2", Switched: true}}
	if err := f.store.PutRecord(context.Background(), &d); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
	}{
		{"locked", "decide: /rollback web prod to 1 from 2, or /unlock deploys web prod, then /deploy web BUILD to prod"},
		{"unlocked", "decide: /rollback web prod to 1 from 2, or /deploy web BUILD to prod"},
	} {
		if tc.name == "unlocked" {
			if res, out, _ := f.do("bob", "unlock deploys web prod"); res.Failed {
				t.Fatalf("unlock: %q", out.last())
			}
		}
		_, out, _ := f.do("carl", "status web")
		if got := out.last(); !strings.Contains(got, tc.want) || !strings.Contains(got, "the lock stays until someone unlocks it") {
			t.Errorf("%s: status lacks %q, or that the lock stays:\n%s", tc.name, tc.want, got)
		}
	}
}
