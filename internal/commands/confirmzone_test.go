package commands_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestConfirmDeadlineInTheBotsZone: the migrations prompt gives its
// deadline in the zone of every other time the bot gives (that of its
// clock), whatever zone the deadline came in: the progress view and the
// plain prompt alike.
func TestConfirmDeadlineInTheBotsZone(t *testing.T) {
	warsaw, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, warsaw)
	ev := deploy.Event{Kind: deploy.EventConfirm, DeployID: "d-1", App: "web", Env: "prod", Build: "2",
		Migrations: []string{"001_add"}, Time: now, Deadline: now.Add(10 * time.Minute).UTC()}
	for _, tt := range []struct {
		name string
		msg  func() chat.Message
	}{
		{"progress", func() chat.Message {
			var p commands.Progress
			p.Apply(ev)
			return p.Message(now)
		}},
		{"prompt", func() chat.Message { return commands.EventMessage(ev) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := chat.Text(tt.msg())
			if want := "10:10:00 CET"; !strings.Contains(text, want) {
				t.Errorf("got %q, want the deadline as %s", text, want)
			}
		})
	}
}
