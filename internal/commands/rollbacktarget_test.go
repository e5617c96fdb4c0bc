package commands_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestRollbackButtonNamesItsTarget: a deploy's Rollback button says where
// it goes when the record knows, and asks for that release; a record that
// does not know (written before it did) keeps the plain button. A label
// too long for a platform to show whole falls back to the plain one
// rather than show a build id cut short.
func TestRollbackButtonNamesItsTarget(t *testing.T) {
	const id = "20261123-120000-abcdef"
	long := strings.Repeat("7", 64) // the longest build id there is
	rec := func(build, to string) *deploy.Record {
		return &deploy.Record{ID: id, Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: build, Previous: "1", RollbackTo: to,
			Outcome: deploy.OutcomeSucceeded, Started: t0, Finished: t0.Add(time.Second),
			Hosts: []deploy.HostResult{{Host: "web1", State: deploy.HostActive, Current: build, Previous: "1", Switched: true}}}
	}
	tests := []struct {
		name        string
		rec         *deploy.Record
		label, cmd  string
		consoleLine string
	}{
		{"target known", rec("2", "1"), "Roll back to 1", "rollback web prod to 1 from 2",
			"→ Roll back to 1: rollback web prod to 1 from 2"},
		{"no target recorded", rec("2", ""), "Rollback", "rollback web prod from 2",
			"→ Rollback: rollback web prod from 2"},
		{"a target that is no build", rec("2", "../1"), "Rollback", "rollback web prod from 2",
			"→ Rollback: rollback web prod from 2"},
		{"a label that just fits", rec("2", long[:chat.MaxLabel-len("Roll back to ")]), "Roll back to " + long[:chat.MaxLabel-len("Roll back to ")],
			"rollback web prod to " + long[:chat.MaxLabel-len("Roll back to ")] + " from 2", ""},
		{"a target too long to name", rec("2", long), "Rollback", "rollback web prod to " + long + " from 2",
			"→ Rollback: rollback web prod to " + long + " from 2"},
		{"both builds long", rec(long, long[:63]+"8"), "Rollback", "rollback web prod to " + long[:63] + "8 from " + long, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := commands.FinalMessage(tt.rec, t0.Add(time.Hour))
			if len(m.Buttons) != 1 {
				t.Fatalf("buttons: got %+v, want one", m.Buttons)
			}
			b := m.Buttons[0]
			if b.Label != tt.label || b.Action != tt.cmd || b.Short != "rollback "+id || b.Style != "danger" {
				t.Errorf("button: got %+v, want label %q, action %q, short form rollback %s", b, tt.label, tt.cmd, id)
			}
			if n := utf8.RuneCountInString(b.Label); n > chat.MaxLabel {
				t.Errorf("label: got %d characters, want at most %d", n, chat.MaxLabel)
			}
			if text := chat.Text(m); tt.consoleLine != "" && !strings.Contains(text, "  "+tt.consoleLine+"\n") {
				t.Errorf("console: got\n%s\nwant a line %q", text, tt.consoleLine)
			}
		})
	}
}

// TestInterruptedButtonNamesItsTarget: the button undoing an interrupted
// run says where it goes, unless that is too long to show whole.
func TestInterruptedButtonNamesItsTarget(t *testing.T) {
	long := strings.Repeat("7", 64)
	tests := []struct {
		name            string
		kind            deploy.Kind
		build, previous string
		label           string
	}{
		{"a deploy: back to what it left", deploy.KindDeploy, "2", "1", "Roll back to 1"},
		{"a rollback: on to its target", deploy.KindRollback, "1", "2", "Roll back to 1"},
		{"a target too long to name", deploy.KindDeploy, "2", long, "Rollback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &deploy.Record{ID: "20261123-120000-abcdef", Kind: tt.kind, App: "web", Env: "prod", Build: tt.build, Previous: tt.previous, Outcome: deploy.OutcomeInterrupted}
			b, ok := commands.InterruptedButton(r)
			if !ok || b.Label != tt.label {
				t.Errorf("button: got %+v, %v; want label %q", b, ok, tt.label)
			}
		})
	}
}

// TestRollbackButtonOfAnOlderRecord: a record as an older version stored
// it, before records named the release a rollback goes to, still loads,
// and its report keeps the plain Rollback, which acts as it always did.
func TestRollbackButtonOfAnOlderRecord(t *testing.T) {
	stored := `{"id":"20261123-120000-abcdef","kind":"deploy","app":"web","env":"prod","build":"2","previous":"1",` +
		`"requester":"ana","started":"2026-11-23T12:00:00Z","finished":"2026-11-23T12:00:01Z","outcome":"succeeded",` +
		`"hosts":[{"host":"web1","state":"active","current":"2","previous":"1","switched":true}],"owner":"bot-1:42","fence":3}`
	var r deploy.Record
	if err := json.Unmarshal([]byte(stored), &r); err != nil {
		t.Fatalf("decode an older record: %v", err)
	}
	if r.RollbackTo != "" || !r.CanRollBack() {
		t.Errorf("older record: got RollbackTo %q, CanRollBack %v; want none, true", r.RollbackTo, r.CanRollBack())
	}
	m := commands.FinalMessage(&r, r.Finished)
	want := chat.Button{Label: "Rollback", Action: "rollback web prod from 2", Short: "rollback 20261123-120000-abcdef", Style: "danger"}
	if len(m.Buttons) != 1 || m.Buttons[0] != want {
		t.Errorf("buttons: got %+v, want %+v", m.Buttons, want)
	}
}

// TestRollbackButtonGoesWhereItSays: end to end over the local transport,
// a deploy's report names the release its Rollback goes back to, in the
// label and the console's line, and a click goes there. When that release
// can no longer be had at click time (marked bad since, gone from the
// host), the click, in either form, is refused and changes nothing,
// where the plain `from` the button sent before would have gone to
// another release than the one it named. After a later deploy it is
// refused as before.
func TestRollbackButtonGoesWhereItSays(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, f *serviceFixture) // what happens before the click
		refuse string                                // "" for a click that rolls back
	}{
		{"nothing changed", func(*testing.T, *serviceFixture) {}, ""},
		{"its release marked bad since", func(t *testing.T, f *serviceFixture) {
			if err := os.WriteFile(filepath.Join(f.app, "releases", ".bad-1"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "release 1 of web/prod is marked bad"},
		{"its release gone from the host", func(t *testing.T, f *serviceFixture) {
			if err := os.RemoveAll(filepath.Join(f.app, "releases", "1")); err != nil {
				t.Fatal(err)
			}
		}, "release 1 of web/prod is not on localhost"},
		{"a later deploy", func(t *testing.T, f *serviceFixture) {
			if _, _, rec := f.do("bob", "deploy web 3"); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("deploy 3: %+v", rec)
			}
		}, "web/prod runs 3 now, not 2"},
		{"a later deploy, and its release gone", func(t *testing.T, f *serviceFixture) {
			if _, _, rec := f.do("bob", "deploy web 3"); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("deploy 3: %+v", rec)
			}
			if err := os.RemoveAll(filepath.Join(f.app, "releases", "1")); err != nil {
				t.Fatal(err)
			}
		}, "web/prod runs 3 now, not 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-3.tar.gz"), tgz(t, map[string]string{"BUILD": "3"}))
			var (
				rec *deploy.Record
				out *recorder
			)
			for _, b := range []string{"3", "1", "2"} {
				if _, out, rec = f.do("bob", "deploy web "+b); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
					t.Fatalf("deploy %s: %+v", b, rec)
				}
			}
			// The report as the console prints it, from the progress
			// event the service sent it.
			report := ""
			for _, ev := range out.events {
				if ev.Kind == deploy.EventFinished {
					report = chat.Text(commands.EventMessage(ev))
				}
			}
			if want := "  → Roll back to 1: rollback web prod to 1 from 2\n"; !strings.Contains(report, want) {
				t.Errorf("deploy 2's report: got\n%s\nwant a line %q", report, want)
			}
			// The button of a message made later from the stored record
			// (a Sentry alert's) is the same.
			stored, err := f.store.Record(t.Context(), rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			m := commands.FinalMessage(stored, stored.Finished)
			if len(m.Buttons) != 1 {
				t.Fatalf("deploy 2: got buttons %+v, want one", m.Buttons)
			}
			b := m.Buttons[0]
			if b.Label != "Roll back to 1" || b.Action != "rollback web prod to 1 from 2" || b.Short != "rollback "+rec.ID {
				t.Fatalf("deploy 2: got button %+v, want Roll back to 1 sending rollback web prod to 1 from 2", b)
			}
			tt.change(t, f)
			for _, click := range []string{b.Action, b.Short} {
				res, out, rb := f.do("bob", click)
				if tt.refuse == "" {
					if rb == nil || rb.Build != "1" || rb.Previous != "2" || rb.Outcome != deploy.OutcomeSucceeded {
						t.Fatalf("%q: got %+v, %q; want a rollback from 2 to 1", click, rb, out.last())
					}
					break // rolled back: the short form has nothing left to do
				}
				if !res.Failed || rb != nil || !strings.Contains(out.last(), tt.refuse) {
					t.Errorf("%q: got %+v, %q, %+v; want refused: %q", click, res, out.last(), rb, tt.refuse)
				}
			}
			want := "releases/1"
			if tt.refuse != "" {
				want = "releases/2"
				if strings.HasPrefix(tt.name, "a later deploy") {
					want = "releases/3"
				}
			}
			if got := link(t, filepath.Join(f.app, "current")); got != want {
				t.Errorf("current after the click: got %s, want %s", got, want)
			}
			if tt.refuse == "" || strings.HasPrefix(tt.name, "a later deploy") {
				return
			}
			// What the button sent before, without the release it names,
			// goes elsewhere.
			if _, out, rb := f.do("bob", "rollback web prod from 2"); rb == nil || rb.Build != "3" {
				t.Errorf("rollback web prod from 2: got %+v, %q; want a rollback to 3", rb, out.last())
			}
		})
	}
}

// TestRollbackShortFormOfAPartialRun: the short form of a Rollback
// button, `rollback DEPLOY-ID` (what Discord sends when the command is
// too long for it), goes to the release the record names after a partial
// run as after a succeeded one, as the full form does: after a partial
// run the hosts run different releases, and a rollback without it is
// refused or, as here, goes elsewhere.
func TestRollbackShortFormOfAPartialRun(t *testing.T) {
	f := newServiceFixture(t)
	artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-3.tar.gz"), tgz(t, map[string]string{"BUILD": "3"}))
	var rec *deploy.Record
	for _, b := range []string{"3", "1", "2"} {
		if _, _, rec = f.do("bob", "deploy web "+b); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
			t.Fatalf("deploy %s: %+v", b, rec)
		}
	}
	// Recorded partial, naming 3 where a rollback from it goes (1 on a
	// host it dropped, say).
	stored, err := f.store.Record(t.Context(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored.Outcome, stored.RollbackTo = deploy.OutcomePartial, "3"
	if err := f.store.PutRecord(t.Context(), stored); err != nil {
		t.Fatal(err)
	}
	b := commands.RollbackButton(stored)
	if b.Action != "rollback web prod to 3 from 2" || b.Short != "rollback "+rec.ID {
		t.Fatalf("button: got %+v, want rollback web prod to 3 from 2, short rollback %s", b, rec.ID)
	}
	_, out, rb := f.do("bob", b.Short)
	if rb == nil || rb.Build != "3" || rb.Previous != "2" {
		t.Fatalf("%q: got %+v, %q; want a rollback from 2 to 3, as %q", b.Short, rb, out.last(), b.Action)
	}
}

// TestFinalMessageOfAPartialDeploy: a partial deploy's own report offers
// what its alerts do (RollbackOffer): the Rollback to the release it
// recorded, which `rollback` accepts after a partial run, or, without
// one, says why there is no button and what to do instead.
func TestFinalMessageOfAPartialDeploy(t *testing.T) {
	const id = "20261123-120000-abcdef"
	rec := func(to string, noRollback bool) *deploy.Record {
		return &deploy.Record{ID: id, Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "3", Previous: "2", RollbackTo: to, NoRollback: noRollback,
			Outcome: deploy.OutcomePartial, Error: "1 of 2 hosts failed", Started: t0, Finished: t0.Add(time.Second),
			Hosts: []deploy.HostResult{
				{Host: "web1", State: deploy.HostActive, Current: "3", Previous: "2", Switched: true},
				{Host: "web2", State: deploy.HostFailed, Current: "1", Error: "unpack failed"},
			}}
	}
	tests := []struct {
		name   string
		rec    *deploy.Record
		button *chat.Button
		line   string
	}{
		{"a target recorded", rec("1", false),
			&chat.Button{Label: "Roll back to 1", Action: "rollback web prod to 1 from 3", Short: "rollback " + id, Style: "danger"}, ""},
		{"no target on every host", rec("", true), nil,
			"no release on every host to roll back to after the partial deploy " + id + ", so there is no Rollback button: " + suggest.Command("status web") + " shows what each host runs; name a release they all have: rollback web prod to BUILD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := commands.FinalMessage(tt.rec, t0.Add(time.Hour))
			switch {
			case tt.button != nil && (len(m.Buttons) != 1 || m.Buttons[0] != *tt.button):
				t.Errorf("buttons: got %+v, want %+v", m.Buttons, *tt.button)
			case tt.button == nil && len(m.Buttons) != 0:
				t.Errorf("buttons: got %+v, want none", m.Buttons)
			}
			if b, _, _, ok := commands.RollbackOffer(tt.rec); ok != (tt.button != nil) || (ok && b != *tt.button) {
				t.Errorf("the alerts' offer: got %+v, %v; want the report's", b, ok)
			}
			if tt.line != "" && !slices.Contains(m.Lines, tt.line) {
				t.Errorf("lines: got %q, want %q among them", m.Lines, tt.line)
			}
		})
	}
}
