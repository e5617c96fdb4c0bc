package commands_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestStatusShowsAnUndeliveredReport: a final report a chat adapter
// could post nowhere shows under its env in status while that run is
// the env's last, and no longer once another run follows it.
func TestStatusShowsAnUndeliveredReport(t *testing.T) {
	f := newServiceFixture(t)
	_, _, rec := f.do("bob", "deploy web 1")
	if rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("deploy: %+v", rec)
	}
	f.svc.NoteUndelivered(commands.Undelivered{DeployID: rec.ID, App: "web", Env: "prod", Platform: "discord",
		Channel: "345678901234567890", Reason: "post channel message: HTTP 403 Forbidden, Missing Access", At: time.Now()})
	const want = "its final report was not posted (discord channel 345678901234567890"
	tests := []struct {
		name    string
		then    string // a command run before status
		showing bool
	}{
		{"its run is the last", "", true},
		{"another run followed", "deploy web 2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.then != "" {
				if _, _, rec := f.do("bob", tt.then); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
					t.Fatalf("%s: %+v", tt.then, rec)
				}
			}
			_, out, _ := f.do("carl", "status web")
			got := out.last()
			if strings.Contains(got, want) != tt.showing || (tt.showing && !strings.Contains(got, "Missing Access")) {
				t.Errorf("status:\n%s\nshowing %q: got %v, want %v", got, want, !tt.showing, tt.showing)
			}
		})
	}
}
