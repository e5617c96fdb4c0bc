package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestStatusShowsAnUndeliveredReport: a final report a chat adapter
// could post nowhere shows under its env in status while that run is
// the env's last, and no longer once another run follows it; history
// shows it with its run. It is on the run's record, so another replica
// (a Service of its own over the same store), or the bot after a
// restart, shows it too.
func TestStatusShowsAnUndeliveredReport(t *testing.T) {
	f := newServiceFixture(t)
	_, _, rec := f.do("bob", "deploy web 1")
	if rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("deploy: %+v", rec)
	}
	f.svc.NoteUndelivered(commands.Undelivered{DeployID: rec.ID, App: "web", Env: "prod", Platform: "discord",
		Channel: "345678901234567890", Reason: "post channel message: HTTP 403 Forbidden, Missing Access", At: time.Now()})
	other := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: f.store, Policy: f.policy})
	ask := func(svc *commands.Service, text string) string {
		out := newRecorder()
		svc.Handle(context.Background(), commands.Request{User: "carl", Platform: "test", Channel: "C1", Text: text}, out)
		return out.last()
	}
	const want = "its final report was not posted (discord channel 345678901234567890"
	tests := []struct {
		name          string
		then          string // a command run before status
		inStatus      bool
		inHistoryOnce bool
	}{
		{"its run is the last", "", true, true},
		{"another run followed", "deploy web 2", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.then != "" {
				if _, _, rec := f.do("bob", tt.then); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
					t.Fatalf("%s: %+v", tt.then, rec)
				}
			}
			for _, r := range []struct {
				name string
				svc  *commands.Service
			}{{"this replica", f.svc}, {"another replica", other}} {
				got := ask(r.svc, "status web")
				if strings.Contains(got, want) != tt.inStatus || (tt.inStatus && !strings.Contains(got, "Missing Access")) {
					t.Errorf("status from %s:\n%s\nshowing %q: got %v, want %v", r.name, got, want, !tt.inStatus, tt.inStatus)
				}
				got = ask(r.svc, "history web")
				if n := strings.Count(got, want); (n == 1) != tt.inHistoryOnce {
					t.Errorf("history from %s:\n%s\nshowing %q %d times, want once: %v", r.name, got, want, n, tt.inHistoryOnce)
				}
			}
		})
	}
}

// TestStatusNamesTheResponseURLThatRefused: a report that a command's
// response URL refused names that URL, not a channel.
func TestStatusNamesTheResponseURLThatRefused(t *testing.T) {
	f := newServiceFixture(t)
	_, _, rec := f.do("bob", "deploy web 1")
	if rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("deploy: %+v", rec)
	}
	f.svc.NoteUndelivered(commands.Undelivered{DeployID: rec.ID, App: "web", Env: "prod", Platform: "slack",
		Via: "through the command's response URL", Reason: "404 Not Found", At: time.Now()})
	_, out, _ := f.do("carl", "status web")
	if got, want := out.last(), "its final report was not posted (slack through the command's response URL, "; !strings.Contains(got, want) {
		t.Errorf("status:\n%s\nwant %q", got, want)
	}
}
