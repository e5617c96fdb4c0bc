package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
)

// TestAuditShowsWhere: each line of `audit` says where the command came
// from, the platform and the channel, as the entry does: the same user
// may type on Slack, on Discord and at the console, whose commands need
// a shell on the bot's machine, and a train deploys in their name.
func TestAuditShowsWhere(t *testing.T) {
	f := newServiceFixture(t)
	for _, r := range []commands.Request{
		{User: "bob", Platform: "slack", Channel: "C0123", Text: "status web"},
		{User: "bob", Platform: "console", Channel: "console", Text: "history web"},
		{User: "carl", Platform: "discord", Channel: "1234567890", Text: "lock deploys web prod db work"},
	} {
		f.svc.Handle(context.Background(), r, newRecorder())
	}
	_, out, _ := f.do("ana", "audit")
	got := out.last()
	tests := []struct {
		name string
		want string
	}{
		{"slack", `bob (slack C0123)  allowed  "status web"`},
		{"console", `bob (console)  allowed  "history web 10"`},
		{"discord", `carl (discord 1234567890)  refused  "lock deploys web prod`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(got, tt.want) {
				t.Errorf("audit:\n%s\nwant a line with %q", got, tt.want)
			}
		})
	}
}
