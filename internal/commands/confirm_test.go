package commands_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

const askYAML = `users: {ana: {}, bob: {}, carl: {}}
admins: [ana]
deployers: [bob]
apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    migrations:
      list: 'test -e ../../applied || echo 001_users'
      run: 'touch ../../applied'
    environments:
      prod:
        hosts: [localhost]
        migrate: ask
        confirm_timeout: 1m
`

// askService is the service of askYAML, in dir, with builds 1 and 2 of
// web, the clock now (nil: the real one); do runs one command as user.
func askService(t *testing.T, now func() time.Time) (dir string, do func(user, text string) (commands.Outcome, *recorder)) {
	t.Helper()
	return askServiceFrom(t, askYAML, now)
}

// askServiceFrom is askService with its own config text.
func askServiceFrom(t *testing.T, yaml string, now func() time.Time) (dir string, do func(user, text string) (commands.Outcome, *recorder)) {
	t.Helper()
	dir = t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}}, Store: st, Leases: st, Locks: st})
	t.Cleanup(eng.Wait)
	policy, _ := acl.New(cfg.AccessRules())
	svc := commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy, Now: now})
	for _, b := range []string{"1", "2"} {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-"+b+".tar.gz"), tgz(t, map[string]string{"BUILD": b}))
	}
	return dir, func(user, text string) (commands.Outcome, *recorder) {
		out := newRecorder()
		return svc.Handle(context.Background(), commands.Request{User: user, Text: text}, out), out
	}
}

func TestMigrationsConfirmAndAbort(t *testing.T) {
	dir, do := askService(t, nil)
	waitPrompt := func(out *recorder) deploy.Event {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			out.mu.Lock()
			for _, ev := range out.events {
				if ev.Kind == deploy.EventConfirm {
					out.mu.Unlock()
					return ev
				}
			}
			out.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no migrations prompt")
		return deploy.Event{}
	}
	current := func() string { l, _ := os.Readlink(filepath.Join(dir, "srv/web/current")); return l }

	// Abort: nothing applied, nothing switched.
	res, out := do("bob", "deploy web 1")
	if res.Failed {
		t.Fatal(out.last())
	}
	ev := waitPrompt(out)
	if m := commands.EventMessage(ev); len(m.Buttons) != 2 || m.Buttons[0].Action != "deploy confirm "+ev.DeployID {
		t.Errorf("prompt buttons: got %+v", m.Buttons)
	}
	if r, o := do("carl", "deploy abort "+ev.DeployID); !r.Failed || !strings.Contains(o.last(), "there is no deploy "+ev.DeployID+" whose migrations prompt carl may answer") {
		t.Errorf("carl aborting: got %v %q", r.Failed, o.last())
	}
	if r, o := do("bob", "deploy abort "+ev.DeployID); r.Failed {
		t.Fatalf("bob aborting: %q", o.last())
	}
	rec := <-out.finished
	if rec.Outcome != deploy.OutcomeCancelled || current() != "" {
		t.Errorf("after abort: outcome %s (%s), current %q", rec.Outcome, rec.Error, current())
	}
	if _, err := os.Stat(filepath.Join(dir, "srv/web/applied")); err == nil {
		t.Error("migrations ran although aborted")
	}

	// Confirm by an admin: applied, then switched.
	res, out = do("bob", "deploy web 1")
	if res.Failed {
		t.Fatal(out.last())
	}
	ev = waitPrompt(out)
	if r, o := do("ana", "deploy confirm "+ev.DeployID); r.Failed {
		t.Fatalf("ana confirming: %q", o.last())
	}
	rec = <-out.finished
	if rec.Outcome != deploy.OutcomeSucceeded || current() != "releases/1" {
		t.Errorf("after confirm: outcome %s (%s), current %q", rec.Outcome, rec.Error, current())
	}
	if r, o := do("bob", "deploy confirm "+ev.DeployID); !r.Failed || !strings.Contains(o.last(), "is not running (it ended succeeded)") {
		t.Errorf("confirming a finished deploy: got %v %q", r.Failed, o.last())
	}
}

// TestConfirmNeedsTheDeployGrantStill: a requester whose runtime grant
// expired while their deploy waited may abort it, not confirm its
// migrations.
func TestConfirmNeedsTheDeployGrantStill(t *testing.T) {
	clk := testclock.New(time.Now())
	_, do := askService(t, clk.Now)
	if r, o := do("ana", "grant @carl deployer web prod for 1h"); r.Failed {
		t.Fatal(o.last())
	}
	res, out := do("carl", "deploy web 1")
	if res.Failed {
		t.Fatal(out.last())
	}
	id := waitConfirm(t, out)
	clk.Set(clk.Now().Add(2 * time.Hour)) // the grant has expired
	if r, o := do("carl", "deploy confirm "+id); !r.Failed || !strings.Contains(o.last(), "carl may not deploy web/prod") {
		t.Errorf("carl confirming after his grant expired: failed=%v %q", r.Failed, o.last())
	}
	if r, o := do("carl", "deploy abort "+id); r.Failed {
		t.Errorf("carl aborting his own deploy: %q", o.last())
	}
	if rec := <-out.finished; rec.Outcome != deploy.OutcomeCancelled {
		t.Errorf("outcome %s (%s), want cancelled", rec.Outcome, rec.Error)
	}
}

// TestRequesterHoldingConfirmConfirmsAfterTheirGrantExpired: a requester
// who may no longer deploy there (a runtime grant expired while the deploy
// waited) but holds confirm answers the prompt as any holder of confirm
// does; one who holds neither is refused, and may still abort.
func TestRequesterHoldingConfirmConfirmsAfterTheirGrantExpired(t *testing.T) {
	yaml := strings.Replace(askYAML, "deployers: [bob]\n", `deployers: [bob]
roles:
  shipper: [deploy]
  approver: [confirm]
access:
  - role: approver
    users: [carl]
    on: ["web/prod"]
`, 1)
	tests := []struct {
		name    string
		user    string // granted shipper for 1h, deploys, answers after 2h
		answer  string
		refusal string // "" when the answer is taken
		outcome deploy.Outcome
	}{
		{name: "a holder of confirm confirms", user: "carl", answer: "confirm", outcome: deploy.OutcomeSucceeded},
		{name: "a holder of confirm aborts", user: "carl", answer: "abort", outcome: deploy.OutcomeCancelled},
		{name: "without confirm, refused", user: "bob2", answer: "confirm", refusal: "bob2 may not deploy web/prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testclock.New(time.Now())
			y := strings.Replace(yaml, "users: {ana: {}, bob: {}, carl: {}}", "users: {ana: {}, bob: {}, carl: {}, bob2: {}}", 1)
			_, do := askServiceFrom(t, y, clk.Now)
			if r, o := do("ana", "grant @"+tt.user+" shipper web prod for 1h"); r.Failed {
				t.Fatal(o.last())
			}
			res, out := do(tt.user, "deploy web 1")
			if res.Failed {
				t.Fatal(out.last())
			}
			id := waitConfirm(t, out)
			clk.Set(clk.Now().Add(2 * time.Hour)) // the grant has expired
			r, o := do(tt.user, "deploy "+tt.answer+" "+id)
			if tt.refusal != "" {
				if !r.Failed || !strings.Contains(o.last(), tt.refusal) {
					t.Errorf("got failed=%v %q, want a refusal saying %q", r.Failed, o.last(), tt.refusal)
				}
				if r, o := do(tt.user, "deploy abort "+id); r.Failed {
					t.Fatalf("aborting: %q", o.last())
				}
				tt.outcome = deploy.OutcomeCancelled
			} else if r.Failed {
				t.Errorf("got %q, want the answer taken", o.last())
			}
			if rec := <-out.finished; rec.Outcome != tt.outcome {
				t.Errorf("got outcome %s (%s), want %s", rec.Outcome, rec.Error, tt.outcome)
			}
		})
	}
}

// TestCancelAtThePromptSaysNothingWasSwitched: a deploy cancelled while
// its migrations prompt waits stopped before any host switched: its
// progress and report say that nothing was switched.
func TestCancelAtThePromptSaysNothingWasSwitched(t *testing.T) {
	dir, do := askService(t, nil)
	res, out := do("bob", "deploy web 1")
	if res.Failed {
		t.Fatal(out.last())
	}
	waitConfirm(t, out)
	if r, o := do("bob", "cancel web"); r.Failed {
		t.Fatalf("cancel: %q", o.last())
	}
	rec := <-out.finished
	if rec.Outcome != deploy.OutcomeCancelled || !strings.Contains(rec.Error, "cancelled by bob; nothing was switched") {
		t.Errorf("report: got %s (%s), want cancelled by bob; nothing was switched", rec.Outcome, rec.Error)
	}
	var said bool
	out.mu.Lock()
	for _, ev := range out.events {
		said = said || (ev.Kind == deploy.EventNote && strings.Contains(ev.Text, "nothing was switched"))
	}
	out.mu.Unlock()
	if !said {
		t.Error("progress: no note saying that nothing was switched")
	}
	if l, _ := os.Readlink(filepath.Join(dir, "srv/web/current")); l != "" {
		t.Errorf("current %q, want none", l)
	}
}
