package commands_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRollbackOfferedOnlyWithAnEarlierRelease: the report of a deploy
// offers a Rollback only when some host ran a release before it. The
// first deploy of an app+env has nothing to go back to, and the offer
// would only lead to a refusal.
func TestRollbackOfferedOnlyWithAnEarlierRelease(t *testing.T) {
	rec := func(previous string, hostPrevious ...string) *deploy.Record {
		r := &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: previous,
			Outcome: deploy.OutcomeSucceeded, Started: t0, Finished: t0.Add(time.Second)}
		for i, p := range hostPrevious {
			r.Hosts = append(r.Hosts, deploy.HostResult{Host: "web" + string(rune('1'+i)), State: deploy.HostActive, Current: "2", Previous: p, Switched: true})
		}
		return r
	}
	tests := []struct {
		name string
		rec  *deploy.Record
		want string // the button's action, "" for none
	}{
		{"first release on every host", rec("", "", ""), ""},
		{"from an earlier release", rec("1", "1", "1"), "rollback web prod from 2"},
		{"a new host joins a fleet", rec("1", "", "1"), "rollback web prod from 2"},
		{"a host's earlier release only", rec("", "", "1"), "rollback web prod from 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := commands.FinalMessage(tt.rec, t0.Add(time.Hour))
			got := ""
			for _, b := range m.Buttons {
				got += b.Action
			}
			if got != tt.want {
				t.Errorf("buttons: got %+v, want %q", m.Buttons, tt.want)
			}
		})
	}
}

// TestFirstDeployOffersNoRollback: end to end, the first deploy's report
// has no Rollback (which the engine refuses), the second one's has, and
// it works.
func TestFirstDeployOffersNoRollback(t *testing.T) {
	f := newServiceFixture(t)
	_, _, rec := f.do("bob", "deploy web 1")
	if rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("deploy 1: got %+v, want it succeeded", rec)
	}
	if m := commands.FinalMessage(rec, rec.Finished); len(m.Buttons) != 0 {
		t.Errorf("first deploy: got buttons %+v, want none", m.Buttons)
	}
	if res, out, _ := f.do("bob", "rollback web prod from 1"); !res.Failed || !strings.Contains(out.last(), "no earlier good release") {
		t.Fatalf("rollback after the first deploy: got %+v, %q; want it refused, nothing to go back to", res, out.last())
	}
	_, _, rec = f.do("bob", "deploy web 2")
	if rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("deploy 2: got %+v, want it succeeded", rec)
	}
	m := commands.FinalMessage(rec, rec.Finished)
	if len(m.Buttons) != 1 {
		t.Fatalf("second deploy: got buttons %+v, want one Rollback", m.Buttons)
	}
	if _, out, rb := f.do("bob", m.Buttons[0].Action); rb == nil || rb.Outcome != deploy.OutcomeSucceeded || rb.Build != "1" {
		t.Errorf("%q: got %+v, %q; want a rollback to 1", m.Buttons[0].Action, rb, out.last())
	}
}
