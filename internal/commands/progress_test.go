package commands_test

// The progress views are compared with golden files under testdata/. After
// an intended change of the view, rewrite them with
//
//	go test ./internal/commands -run TestProgressGolden -update
//
// and review the diff.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var t0 = time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)

// script builds the event sequence of one deploy, with times.
type script struct {
	rec    *deploy.Record
	at     time.Duration
	events []deploy.Event
	// snaps are the indexes after which the view is rendered, with a name.
	snaps []snap
}

type snap struct {
	after int
	name  string
	at    time.Duration
}

func newScript(kind deploy.Kind, build, previous string, hosts ...string) *script {
	r := &deploy.Record{ID: "20250314-100000-abc123", Kind: kind, App: "web", Env: "prod", Build: build, Previous: previous,
		Requester: "ana", Started: t0, Outcome: deploy.OutcomeRunning}
	for _, h := range hosts {
		r.Hosts = append(r.Hosts, deploy.HostResult{Host: h, State: deploy.HostPending, Current: previous, Previous: previous})
	}
	s := &script{rec: r}
	s.add(deploy.Event{Kind: deploy.EventStarted, Record: r.Clone()})
	return s
}

func (s *script) wait(d time.Duration) *script { s.at += d; return s }

func (s *script) add(ev deploy.Event) *script {
	ev.Time = t0.Add(s.at)
	ev.DeployID, ev.App, ev.Env, ev.Build = s.rec.ID, s.rec.App, s.rec.Env, s.rec.Build
	s.events = append(s.events, ev)
	return s
}

func (s *script) step(host string, step deploy.Step, errText ...string) *script {
	s.add(deploy.Event{Kind: deploy.EventStep, Host: host, Step: step})
	s.wait(time.Second)
	ev := deploy.Event{Kind: deploy.EventStep, Host: host, Step: step, Done: true}
	if len(errText) > 0 {
		ev.Err = errText[0]
	}
	return s.add(ev)
}

// back is step as part of a switch back (see deploy.Event.Back).
func (s *script) back(host string, step deploy.Step) *script {
	s.add(deploy.Event{Kind: deploy.EventStep, Host: host, Step: step, Back: true})
	s.wait(time.Second)
	return s.add(deploy.Event{Kind: deploy.EventStep, Host: host, Step: step, Back: true, Done: true})
}

func (s *script) started(host string, step deploy.Step) *script {
	return s.add(deploy.Event{Kind: deploy.EventStep, Host: host, Step: step})
}

func (s *script) note(text string) *script {
	return s.add(deploy.Event{Kind: deploy.EventNote, Text: text})
}

func (s *script) snap(name string) *script {
	s.snaps = append(s.snaps, snap{after: len(s.events) - 1, name: name, at: s.at})
	return s
}

func (s *script) finish(outcome deploy.Outcome, errText string, hosts ...deploy.HostResult) *script {
	r := s.rec.Clone()
	r.Outcome, r.Error, r.Finished, r.Hosts = outcome, errText, t0.Add(s.at), hosts
	return s.add(deploy.Event{Kind: deploy.EventFinished, Record: r})
}

// render applies the events and renders the view at every snapshot.
func (s *script) render(t *testing.T) string {
	t.Helper()
	var p commands.Progress
	var b strings.Builder
	next := 0
	for i, ev := range s.events {
		p.Apply(ev)
		for next < len(s.snaps) && s.snaps[next].after == i {
			sn := s.snaps[next]
			m := p.Message(t0.Add(sn.at))
			fmt.Fprintf(&b, "== %s (t+%s, level %s, done %v)\n%s\n", sn.name, sn.at, m.Level, p.Done(), chat.Text(m))
			if !m.Public {
				t.Errorf("%s: got a private message, want Public", sn.name)
			}
			next++
		}
	}
	return b.String()
}

func successScript() *script {
	hosts := []string{"web1", "web2", "web3"}
	s := newScript(deploy.KindDeploy, "42", "41", hosts...).snap("started")
	for _, h := range hosts {
		s.started(h, deploy.StepDeliver)
	}
	s.wait(2 * time.Second).snap("delivering")
	for _, h := range hosts {
		s.add(deploy.Event{Kind: deploy.EventStep, Host: h, Step: deploy.StepDeliver, Done: true})
	}
	s.step("web1", deploy.StepPending)
	s.add(deploy.Event{Kind: deploy.EventMigrations, Host: "web1", Migrations: []string{"0042_add_invoice_index", "0043_backfill_totals"}})
	s.step("web1", deploy.StepMigrate).snap("migrated")
	for i, h := range hosts {
		s.step(h, deploy.StepActivate).step(h, deploy.StepRestart)
		s.started(h, deploy.StepHealth)
		if i == 1 {
			s.wait(500 * time.Millisecond).snap("web2 health check")
		}
		s.wait(2 * time.Second).add(deploy.Event{Kind: deploy.EventStep, Host: h, Step: deploy.StepHealth, Done: true})
		if i == 0 {
			s.snap("web1 active")
		}
	}
	s.note("web1: removed old releases 37")
	s.wait(time.Second).snap("all active")
	var final []deploy.HostResult
	for _, h := range hosts {
		final = append(final, deploy.HostResult{Host: h, State: deploy.HostActive, Current: "42", Previous: "41"})
	}
	s.rec.Migrations = []string{"0042_add_invoice_index", "0043_backfill_totals"}
	s.rec.RollbackTo = "41"
	return s.finish(deploy.OutcomeSucceeded, "", final...).snap("finished")
}

func revertedScript() *script {
	hosts := []string{"web1", "web2", "web3"}
	s := newScript(deploy.KindDeploy, "43", "42", hosts...)
	for _, h := range hosts {
		s.step(h, deploy.StepDeliver)
	}
	s.step("web1", deploy.StepActivate).step("web1", deploy.StepRestart).step("web1", deploy.StepHealth)
	s.step("web2", deploy.StepActivate).step("web2", deploy.StepRestart)
	s.wait(30*time.Second).step("web2", deploy.StepHealth, "health on web2: http://10.0.0.2:8000/health: 502 Bad Gateway").snap("web2 failed")
	s.note("switching back: health on web2: http://10.0.0.2:8000/health: 502 Bad Gateway")
	s.step("web1", deploy.StepRevert).snap("switching back web1")
	s.step("web1", deploy.StepRestart).step("web1", deploy.StepHealth).snap("web1 reverted")
	s.step("web2", deploy.StepRevert).step("web2", deploy.StepRestart).step("web2", deploy.StepHealth)
	return s.finish(deploy.OutcomeReverted,
		"health on web2: http://10.0.0.2:8000/health: 502 Bad Gateway; release 43 marked bad; switched back to 42 on web1, web2",
		deploy.HostResult{Host: "web1", State: deploy.HostReverted, Current: "42", Previous: "42"},
		deploy.HostResult{Host: "web2", State: deploy.HostReverted, Current: "42", Previous: "42", Error: "health on web2: http://10.0.0.2:8000/health: 502 Bad Gateway"},
		deploy.HostResult{Host: "web3", State: deploy.HostUnchanged, Current: "42", Previous: "42"},
	).snap("finished")
}

func cancelledScript() *script {
	hosts := []string{"web1", "web2", "web3"}
	s := newScript(deploy.KindDeploy, "44", "42", hosts...)
	for _, h := range hosts {
		s.started(h, deploy.StepDeliver)
	}
	s.wait(4 * time.Second).snap("delivering")
	for _, h := range hosts {
		s.add(deploy.Event{Kind: deploy.EventStep, Host: h, Step: deploy.StepDeliver, Done: true, Err: "deliver on " + h + ": cancelled by bob"})
	}
	s.snap("delivery stopped")
	var final []deploy.HostResult
	for _, h := range hosts {
		final = append(final, deploy.HostResult{Host: h, State: deploy.HostUnchanged, Current: "42", Previous: "42"})
	}
	return s.wait(time.Second).finish(deploy.OutcomeCancelled, "cancelled by bob", final...).snap("finished")
}

func TestProgressGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script *script
	}{
		{"success", successScript()},
		{"reverted", revertedScript()},
		{"cancelled", cancelledScript()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.script.render(t)
			golden := filepath.Join("testdata", "progress_"+tc.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("progress view:\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestProgressFinal(t *testing.T) {
	s := successScript()
	var p commands.Progress
	for _, ev := range s.events {
		p.Apply(ev)
	}
	if !p.Done() {
		t.Fatalf("Done: got false after the finished event, want true")
	}
	m := p.Message(t0.Add(time.Hour))
	if len(m.Buttons) != 1 || m.Buttons[0].Label != "Roll back to 41" || m.Buttons[0].Action != "rollback web prod to 41 from 42" {
		t.Errorf("buttons: got %+v, want one Roll back to 41 button running %q", m.Buttons, "rollback web prod to 41 from 42")
	}
	if m.Level != chat.Success {
		t.Errorf("level: got %s, want %s", m.Level, chat.Success)
	}
	// A later event (a stray one) changes nothing.
	before := chat.Text(m)
	p.Apply(deploy.Event{Kind: deploy.EventNote, DeployID: s.rec.ID, Text: "late"})
	if got := chat.Text(p.Message(t0.Add(2 * time.Hour))); got != before {
		t.Errorf("after the end: got\n%s\nwant unchanged\n%s", got, before)
	}
}

func TestProgressManyHosts(t *testing.T) {
	var hosts []string
	for i := range 50 {
		hosts = append(hosts, fmt.Sprintf("web%02d", i+1))
	}
	s := newScript(deploy.KindDeploy, "7", "6", hosts...)
	for _, h := range hosts[:30] {
		s.step(h, deploy.StepActivate).step(h, deploy.StepRestart).step(h, deploy.StepHealth)
	}
	var p commands.Progress
	for _, ev := range s.events {
		p.Apply(ev)
	}
	m := p.Message(t0.Add(5 * time.Minute))
	if len(m.Fields) != 20 {
		t.Errorf("fields: got %d, want 20", len(m.Fields))
	}
	text := chat.Text(m)
	for _, want := range []string{"▓▓▓▓▓▓░░░░ 30/50 hosts active", "… and 30 more hosts: 10 active, 20 pending", "5m00s elapsed"} {
		if !strings.Contains(text, want) {
			t.Errorf("got\n%s\nwant it to contain %q", text, want)
		}
	}
}

func TestProgressRollback(t *testing.T) {
	s := newScript(deploy.KindRollback, "41", "42", "web1")
	s.step("web1", deploy.StepActivate).step("web1", deploy.StepRestart).started("web1", deploy.StepHealth)
	var p commands.Progress
	for _, ev := range s.events {
		p.Apply(ev)
	}
	got := p.Message(t0.Add(3 * time.Second)).Title
	if want := "Rolling back web/prod from 42 to 41 — requested by ana (rollback 20250314-100000-abc123)"; got != want {
		t.Errorf("title: got %q, want %q", got, want)
	}
}

func TestProgressConfirm(t *testing.T) {
	s := newScript(deploy.KindDeploy, "42", "41", "web1")
	s.step("web1", deploy.StepDeliver).step("web1", deploy.StepPending)
	s.add(deploy.Event{Kind: deploy.EventConfirm, Migrations: []string{"0042_drop_column"}, Deadline: t0.Add(10 * time.Minute),
		Text: "1 pending migration(s) wait for confirmation: deploy confirm 20250314-100000-abc123, or deploy abort 20250314-100000-abc123"})
	var p commands.Progress
	for _, ev := range s.events {
		p.Apply(ev)
	}
	m := p.Message(t0.Add(time.Minute))
	text := chat.Text(m)
	for _, want := range []string{"pending migrations: 0042_drop_column", "⏸ 1 pending migration(s) wait for confirmation", "(until 10:10:00 UTC)"} {
		if !strings.Contains(text, want) {
			t.Errorf("got\n%s\nwant it to contain %q", text, want)
		}
	}
	if m.Level != chat.Warning || len(m.Buttons) != 2 || m.Buttons[0].Action != "deploy confirm 20250314-100000-abc123" || m.Buttons[1].Action != "deploy abort 20250314-100000-abc123" {
		t.Errorf("got level %s, buttons %+v, want a warning with confirm and abort buttons", m.Level, m.Buttons)
	}
	// Once the deploy goes on, the prompt and its buttons go.
	p.Apply(deploy.Event{Kind: deploy.EventNote, DeployID: s.rec.ID, Text: "migrations confirmed by ana"})
	if m := p.Message(t0.Add(2 * time.Minute)); len(m.Buttons) != 0 || strings.Contains(chat.Text(m), "⏸") {
		t.Errorf("after the confirmation: got\n%s\nwant no prompt and no buttons", chat.Text(m))
	}
}

// TestProgressManyMigrations: a release with many pending migrations has
// the first ten named and the others counted, so that the confirmation
// prompt and its deadline still fit a chat message, and so does the
// final summary.
func TestProgressManyMigrations(t *testing.T) {
	var names []string
	for i := range 150 {
		names = append(names, fmt.Sprintf("%04d_add_column_with_a_long_descriptive_name", i))
	}
	s := newScript(deploy.KindDeploy, "42", "41", "web1")
	s.step("web1", deploy.StepDeliver).step("web1", deploy.StepPending)
	s.add(deploy.Event{Kind: deploy.EventConfirm, Migrations: names, Deadline: t0.Add(10 * time.Minute),
		Text: "150 pending migration(s) wait for confirmation: deploy confirm 20250314-100000-abc123, or deploy abort 20250314-100000-abc123"})
	var p commands.Progress
	for _, ev := range s.events {
		p.Apply(ev)
	}
	text := chat.Text(p.Message(t0.Add(time.Minute)))
	for _, want := range []string{names[9] + " and 140 more", "⏸ 150 pending migration(s)", "(until 10:10:00 UTC)"} {
		if !strings.Contains(text, want) {
			t.Errorf("got\n%s\nwant it to contain %q", text, want)
		}
	}
	if n := len([]rune(text)); n > 3000 || strings.Contains(text, names[10]) {
		t.Errorf("got %d characters naming %s, want the first ten named within 3,000", n, names[10])
	}
	s.rec.Migrations = names
	s.finish(deploy.OutcomeSucceeded, "", deploy.HostResult{Host: "web1", State: deploy.HostActive, Current: "42", Previous: "41"})
	p.Apply(s.events[len(s.events)-1])
	if final := chat.Text(p.Message(t0.Add(3 * time.Minute))); !strings.Contains(final, "migrations: "+names[0]) || !strings.Contains(final, "and 140 more") || strings.Contains(final, names[10]) {
		t.Errorf("final:\n%s\nwant the first ten migrations named and 140 counted", final)
	}
}

// TestProgressManyHostsNamesFailures: in a fleet larger than the view
// shows host by host, the hosts that failed are among those shown, with
// their error, while the deploy runs and once it ended.
func TestProgressManyHostsNamesFailures(t *testing.T) {
	var hosts []string
	for i := range 50 {
		hosts = append(hosts, fmt.Sprintf("web%02d", i+1))
	}
	failed := map[string]string{"web37": "health on web37: not healthy after 30s: connection refused", "web44": "restart on web44: exit status 1"}
	s := newScript(deploy.KindDeploy, "7", "6", hosts...)
	for _, h := range hosts {
		s.step(h, deploy.StepActivate).step(h, deploy.StepRestart)
		if err, ok := failed[h]; ok {
			s.step(h, deploy.StepHealth, err)
			continue
		}
		s.step(h, deploy.StepHealth)
	}
	var p commands.Progress
	for _, ev := range s.events {
		p.Apply(ev)
	}
	var final []deploy.HostResult
	for _, h := range hosts {
		r := deploy.HostResult{Host: h, State: deploy.HostActive, Current: "7", Previous: "6"}
		if err, ok := failed[h]; ok {
			r = deploy.HostResult{Host: h, State: deploy.HostFailed, Current: "6", Previous: "6", Error: err}
		}
		final = append(final, r)
	}
	s.finish(deploy.OutcomePartial, "2 of 50 hosts failed (max_failures allows 5); the others run 7", final...)
	running := p.Message(t0.Add(5 * time.Minute))
	p.Apply(s.events[len(s.events)-1])
	ended := p.Message(t0.Add(6 * time.Minute))
	for name, m := range map[string]chat.Message{"running": running, "ended": ended} {
		if len(m.Fields) != 20 {
			t.Errorf("%s: got %d fields, want 20", name, len(m.Fields))
		}
		text := chat.Text(m)
		// Each is named once, up front, and its error says the step
		// without naming it again.
		for h, err := range map[string]string{"web37": "— health: not healthy after 30s: connection refused", "web44": "— restart: exit status 1"} {
			if !strings.Contains(text, h+"  failed") || !strings.Contains(text, err) || strings.Count(text, h) != 1 {
				t.Errorf("%s: got\n%s\nwant it to name %s once, failed, and its error %q", name, text, h, err)
			}
		}
		if !strings.Contains(text, "… and 30 more hosts: 30 active") {
			t.Errorf("%s: got\n%s\nwant the hosts left out counted", name, text)
		}
	}
}

// TestFinalHostLostDuringItsSwitch: a host whose `current` could not be
// read after its switch is shown on either release it may point at, not
// on the one it left as if it certainly still ran it; on its first
// release, on the build or on none yet.
func TestFinalHostLostDuringItsSwitch(t *testing.T) {
	tests := []struct {
		name string
		rec  *deploy.Record
		want []string // the hosts' fields, each a prefix
	}{
		{
			name: "from an earlier release",
			rec: &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindRollback, App: "web", Env: "prod", Build: "1", Previous: "2",
				Outcome: deploy.OutcomeFailed, Error: "rollback to 1 failed on web2",
				Hosts: []deploy.HostResult{
					{Host: "web1", State: deploy.HostActive, Current: "1", Switched: true},
					{Host: "web2", State: deploy.HostFailed, Current: "2", Switching: "1", Error: "activate on web2: connection lost; could not read current after the failed switch"},
				}},
			want: []string{"active, on 1", "failed, on 2 or 1 — "},
		},
		{
			name: "to its first release",
			rec: &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "1",
				Outcome: deploy.OutcomeReverted, Error: "activate on web2: connection lost; release 1 marked bad",
				Hosts: []deploy.HostResult{
					{Host: "web1", State: deploy.HostFailed, Current: "1", Switched: true},
					{Host: "web2", State: deploy.HostFailed, Switching: "1", Error: "activate on web2: connection lost; could not read current after the failed switch"},
				}},
			want: []string{"failed, on 1", "failed, on 1 or no release yet — "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := commands.FinalMessage(tt.rec, time.Now())
			ok := len(m.Fields) == len(tt.want)
			for i := 0; ok && i < len(tt.want); i++ {
				ok = strings.HasPrefix(m.Fields[i].Value, tt.want[i])
			}
			if !ok {
				t.Errorf("fields: got %+v, want %q", m.Fields, tt.want)
			}
		})
	}
}

// TestInterruptedHostOnItsFirstRelease: the line of an interrupted deploy
// (history, status) shows a host it lost during its switch to its first
// release on the build or on none yet, not on none alone.
func TestInterruptedHostOnItsFirstRelease(t *testing.T) {
	f := newServiceFixture(t)
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	r := &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "1",
		Requester: "bob", Outcome: deploy.OutcomeInterrupted, Started: start, Finished: start.Add(time.Minute),
		Error: "the process running this deploy (bot-1) stopped before it finished; bot-2 took web/prod over since, so the hosts are as this deploy last recorded them",
		Hosts: []deploy.HostResult{
			{Host: "web1", State: deploy.HostActive, Current: "1", Switched: true},
			{Host: "web2", State: deploy.HostActivating, Switching: "1"},
		}}
	if err := f.store.PutRecord(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	_, out, _ := f.do("carl", "history web")
	m := out.replies[len(out.replies)-1]
	want := "; hosts: web1 on 1, web2 on 1 or no release yet"
	if len(m.Lines) != 1 || !strings.HasSuffix(m.Lines[0], want) {
		t.Errorf("got lines %q, want one ending with %q", m.Lines, want)
	}
}

// TestInterruptedLineUnreadHosts: the line of an interrupted run (history,
// status) counts the hosts its recovery could not read apart from those it
// read, even on the same release: theirs is only what the run last
// recorded of them.
func TestInterruptedLineUnreadHosts(t *testing.T) {
	tests := []struct {
		name  string
		hosts []deploy.HostResult
		want  string
	}{
		{
			name: "one read, one refused",
			hosts: []deploy.HostResult{
				{Host: "host0", State: deploy.HostActive, Current: "2", Switched: true},
				{Host: "host1", State: deploy.HostFailed, Current: "2", Switched: true, Unread: true, Error: "host key mismatch"},
			},
			want: "; hosts: host0 on 2, host1 not read (host key mismatch), last seen on 2",
		},
		{
			name: "two unreachable",
			hosts: []deploy.HostResult{
				{Host: "host0", State: deploy.HostActive, Current: "1"},
				{Host: "host1", State: deploy.HostUnreachable, Current: "1", Unread: true, Error: "dial tcp: connection refused"},
				{Host: "host2", State: deploy.HostUnreachable, Current: "1", Unread: true, Error: "dial tcp: connection refused"},
			},
			want: "; hosts: host0 on 1, 2 not read (dial tcp: connection refused), last seen on 1 (host1, host2)",
		},
		{
			name: "unreachable for two reasons, one naming the host",
			hosts: []deploy.HostResult{
				{Host: "host0", State: deploy.HostUnreachable, Current: "1", Unread: true, Error: "ssh: host0 (10.0.0.5:22): host unreachable: connection refused"},
				{Host: "host1", State: deploy.HostFailed, Current: "1", Unread: true, Error: "ssh: host1: session closed"},
			},
			want: "; hosts: host0 not read (host unreachable: connection refused), last seen on 1, host1 not read (session closed), last seen on 1",
		},
		{
			name: "no reason given",
			hosts: []deploy.HostResult{
				{Host: "host0", State: deploy.HostUnreachable, Current: "1", Unread: true},
			},
			want: "; hosts: host0 not read (no reason was given), last seen on 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
			r := &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
				Requester: "bob", Outcome: deploy.OutcomeInterrupted, Started: start, Finished: start.Add(time.Minute),
				Error: "the process running this deploy (bot-1) stopped before it finished", Hosts: tt.hosts}
			if err := f.store.PutRecord(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			_, out, _ := f.do("carl", "history web")
			m := out.replies[len(out.replies)-1]
			if len(m.Lines) != 1 || !strings.HasSuffix(m.Lines[0], tt.want) {
				t.Errorf("got lines %q, want one ending with %q", m.Lines, tt.want)
			}
		})
	}
}

// With a load balancer pool a host is drained before it is switched back:
// its drain is the switch back's first step, and the host shows as going
// back from then on, never as active again in between. So does a host an
// earlier run left switched, which this run did not switch before it goes
// back: its drain read "draining", as a forward step's.
func TestProgressSwitchBackWithPool(t *testing.T) {
	want := []string{
		"switching back: draining", "switching back: drained",
		"switching back", "switched back",
		"switching back: restarting", "switching back: restarted",
		"switching back: checking health", "reverted",
		"switching back: returning to the pool", "reverted",
	}
	tests := []struct {
		name    string
		forward bool // the run switched the host before it goes back
	}{
		{name: "switched by this run", forward: true},
		{name: "left switched by an earlier run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScript(deploy.KindDeploy, "43", "42", "web1")
			if tt.forward {
				s.step("web1", deploy.StepDeliver)
				s.step("web1", deploy.StepDrain).step("web1", deploy.StepActivate).step("web1", deploy.StepRestart).step("web1", deploy.StepHealth).step("web1", deploy.StepReady)
			}
			from := len(s.events)
			s.back("web1", deploy.StepDrain).back("web1", deploy.StepRevert).back("web1", deploy.StepRestart).back("web1", deploy.StepHealth).back("web1", deploy.StepReady)
			var p commands.Progress
			var got []string
			for i, ev := range s.events {
				p.Apply(ev)
				if i < from {
					continue
				}
				m := p.Message(t0)
				if len(m.Fields) != 1 {
					t.Fatalf("fields: got %d, want 1", len(m.Fields))
				}
				got = append(got, m.Fields[0].Value)
			}
			if !slices.Equal(got, want) {
				t.Errorf("states of web1 during its switch back:\ngot  %q\nwant %q", got, want)
			}
		})
	}
}
