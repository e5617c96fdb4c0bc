package commands_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
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
		// marked are the commands the advice marks as the bot's
		// suggestions: the deploy's BUILD is the reader's to name.
		marked []string
	}{
		{"locked", "decide: rollback web prod to 1 from 2, or unlock deploys web prod, then deploy web BUILD to prod",
			[]string{"rollback web prod to 1 from 2", "unlock deploys web prod"}},
		{"unlocked", "decide: rollback web prod to 1 from 2, or deploy web BUILD to prod",
			[]string{"rollback web prod to 1 from 2"}},
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
		var marked []string
		for _, l := range out.lastMessage().Lines {
			if strings.Contains(l, "decide:") {
				suggest.Rewrite(l, func(cmd string) string { marked = append(marked, cmd); return cmd })
			}
		}
		if !slices.Equal(marked, tc.marked) {
			t.Errorf("%s: the advice marks %q; want %q", tc.name, marked, tc.marked)
		}
	}
}
