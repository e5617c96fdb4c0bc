package commands_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/audit"
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
		// The engine found the release it replaced marked bad, and no
		// other good one: the rollback would be refused.
		{"from a bad release only", noRollback(rec("1", "1", "1")), ""},
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

func noRollback(r *deploy.Record) *deploy.Record {
	r.NoRollback = true
	return r
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

// TestFailedFirstDeploySaysNothingWasSwitchedBack: a first deploy that
// fails its health check has no earlier release to switch back to. Its
// record stays reverted (every host that had an earlier release went back
// to it: none), but people read that it failed and stays on the build,
// never that something was switched back: not in its progress, its
// report, history or status. A later deploy that does switch back still
// says reverted.
func TestFailedFirstDeploySaysNothingWasSwitchedBack(t *testing.T) {
	f := newServiceFixture(t)
	artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-3.tar.gz"), tgz(t, map[string]string{"BUILD": "broken"}))

	_, out, rec := f.do("bob", "deploy web 3")
	if rec == nil || rec.Outcome != deploy.OutcomeReverted {
		t.Fatalf("deploy 3: got %+v, want its record reverted", rec)
	}
	var notes []string
	for _, ev := range out.events {
		if ev.Kind == deploy.EventNote {
			notes = append(notes, ev.Text)
		}
	}
	if !slices.ContainsFunc(notes, func(n string) bool {
		return strings.Contains(n, "nothing to switch back to: localhost had no earlier release")
	}) ||
		slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, "switching back") }) {
		t.Errorf("notes: got %q, want one saying there is nothing to switch back to, none switching back", notes)
	}
	m := commands.FinalMessage(rec, rec.Finished)
	if want := fmt.Sprintf("Deploy %s of web 3 to prod failed after", rec.ID); !strings.HasPrefix(m.Title, want) {
		t.Errorf("report title: got %q, want it to start with %q", m.Title, want)
	}
	if want := "no earlier release to switch back to on localhost, left on 3 — deploy a fixed build"; !slices.ContainsFunc(m.Lines, func(l string) bool { return strings.Contains(l, want) }) {
		t.Errorf("report lines: got %q, want one saying %q", m.Lines, want)
	}
	for _, cmd := range []string{"history web", "status web"} {
		if _, out, _ := f.do("carl", cmd); !strings.Contains(out.last(), "deploy 3 failed by bob") || strings.Contains(out.last(), "reverted") {
			t.Errorf("%s: got %q, want deploy 3 failed, not reverted", cmd, out.last())
		}
	}
	// The audit log is read later to learn what the hosts went through:
	// it says what people were told, and why.
	if e := finishedAudit(t, f, rec.ID); e.Command != "deploy 3 web/prod finished: failed" ||
		!strings.Contains(e.Reason, "no earlier release to switch back to on localhost, left on 3") {
		t.Errorf("audit entry: got %q (%q), want deploy 3 finished: failed, left on 3", e.Command, e.Reason)
	}

	if _, _, rec := f.do("bob", "deploy web 1"); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("deploy 1: got %+v, want it succeeded", rec)
	}
	_, out, rec = f.do("bob", "deploy web 3")
	if rec == nil || rec.Outcome != deploy.OutcomeReverted {
		t.Fatalf("deploy 3 again: got %+v, want it reverted", rec)
	}
	if m := commands.FinalMessage(rec, rec.Finished); !strings.Contains(m.Title, "of web 3 to prod reverted after") {
		t.Errorf("report of deploy 3 from 1: got %q, want it reverted", m.Title)
	}
	if _, out, _ := f.do("carl", "history web"); !strings.Contains(out.last(), "deploy 3 (from 1) reverted by bob") {
		t.Errorf("history: got %q, want deploy 3 (from 1) reverted", out.last())
	}
	if e := finishedAudit(t, f, rec.ID); e.Command != "deploy 3 web/prod finished: reverted" {
		t.Errorf("audit entry of deploy 3 from 1: got %q, want it reverted", e.Command)
	}
}

// finishedAudit is the audit entry of the end of deploy id.
func finishedAudit(t *testing.T, f *serviceFixture, id string) audit.Entry {
	t.Helper()
	entries, err := f.store.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var found []audit.Entry
	for _, e := range entries {
		if e.DeployID == id && e.Decision == audit.Event && strings.Contains(e.Command, " finished: ") {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("audit entries of the end of %s: got %+v, want one", id, found)
	}
	return found[0]
}

// TestRevertedTitle: a deploy's report says reverted only when some host
// was switched back.
func TestRevertedTitle(t *testing.T) {
	rec := func(hosts ...deploy.HostResult) *deploy.Record {
		return &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "3", Previous: "2",
			Outcome: deploy.OutcomeReverted, Started: t0, Finished: t0.Add(time.Second), Hosts: hosts}
	}
	tests := []struct {
		name string
		rec  *deploy.Record
		want string
	}{
		{"switched back", rec(
			deploy.HostResult{Host: "web1", State: deploy.HostReverted, Current: "2", Previous: "2", Switched: true},
			deploy.HostResult{Host: "web2", State: deploy.HostUnchanged, Current: "2", Previous: "2"}), "reverted"},
		{"one switched back, one on its first release", rec(
			deploy.HostResult{Host: "web1", State: deploy.HostReverted, Current: "2", Previous: "2", Switched: true},
			deploy.HostResult{Host: "web2", State: deploy.HostFailed, Current: "3", Switched: true}), "reverted"},
		{"first release", rec(
			deploy.HostResult{Host: "web1", State: deploy.HostFailed, Current: "3", Switched: true}), "failed"},
		{"its switch back failed", rec(
			deploy.HostResult{Host: "web1", State: deploy.HostFailed, Current: "2", Previous: "2", Switched: true, Error: "switch back: restart failed"}), "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := commands.FinalMessage(tt.rec, t0.Add(time.Hour))
			if want := "of web 3 to prod " + tt.want + " after"; !strings.Contains(m.Title, want) {
				t.Errorf("title: got %q, want it to contain %q", m.Title, want)
			}
		})
	}
}
