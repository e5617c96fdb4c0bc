package discord

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestSlashForms: the commands the bot marks as suggested are shown as a
// Discord user types them, options named; other text is left alone,
// whatever its shape.
func TestSlashForms(t *testing.T) {
	c := suggest.Command
	tests := []struct {
		name, in, want string
	}{
		{"status advice", "  decide: " + c("/rollback web prod to 1 from 2") + ", or " + c("/deploy web BUILD to prod"),
			"  decide: /rollback app:web env:prod build:1 from:2, or /deploy app:web build:BUILD env:prod"},
		{"unlock first", "decide: " + c("/rollback web prod") + ", or " + c("/unlock deploys web prod") + ", then " + c("/deploy web BUILD to prod"),
			"decide: /rollback app:web env:prod, or /unlock app:web env:prod, then /deploy app:web build:BUILD env:prod"},
		{"without its slash", "name one: " + c("rollback web prod to BUILD") + " (releases on disk: 1, 2)",
			"name one: /rollback app:web env:prod build:BUILD (releases on disk: 1, 2)"},
		{"lock", "deploys of it are not stopped (to stop them: " + c("/lock deploys web prod REASON") + ")",
			"deploys of it are not stopped (to stop them: /lock app:web env:prod reason:REASON)"},
		{"lock with a quoted reason", "(to stop them: " + c(`lock deploys web prod "rolled back from 2 by itself"`) + ")",
			"(to stop them: /lock app:web env:prod reason:rolled back from 2 by itself)"},
		{"lock with a reason half quoted, as written", "stop them: " + c(`lock deploys web prod "rolled back`), `stop them: lock deploys web prod "rolled back`},
		{"unlock when fixed", "web/prod is locked: db down (" + c("/unlock deploys web prod") + " when fixed)",
			"web/prod is locked: db down (/unlock app:web env:prod when fixed)"},
		{"every app", "unlock it first: " + c("unlock deploys"), "unlock it first: /unlock"},
		{"status of an app", "so there is no Rollback button: " + c("/status web") + " shows what each host runs",
			"so there is no Rollback button: /status app:web shows what each host runs"},
		{"status", c("status") + " shows them", "/status shows them"},
		{"cancel", "to stop this one: " + c("cancel web prod"), "to stop this one: /cancel app:web env:prod"},
		{"cancel of the default env", "to stop it: " + c("cancel web") + ", or wait for its end", "to stop it: /cancel app:web, or wait for its end"},
		{"build with dots ends a sentence", "to undo it: " + c("rollback web prod to 2.4.0") + ".",
			"to undo it: /rollback app:web env:prod build:2.4.0."},
		{"not the shape, as written", "are not stopped: " + c("lock deploys web prod"), "are not stopped: lock deploys web prod"},
		{"confirm, typed only", "to go on: " + c("deploy confirm 20260314-140200-ab12cd"),
			"to go on: deploy confirm 20260314-140200-ab12cd"},
		{"a deploy id, as written", "then " + c("rollback 20260314-140200-ab12cd"), "then rollback 20260314-140200-ab12cd"},
		{"cut short", "to undo it: \ue000rollback web pr", "to undo it: rollback web pr"},
		{"not a suggestion", "last deploy 1 succeeded by bob", "last deploy 1 succeeded by bob"},
		{"a rollback's id", "Rolling back web/prod from 1337 to 1336 (rollback 20260314-140200-ab12cd)",
			"Rolling back web/prod from 1337 to 1336 (rollback 20260314-140200-ab12cd)"},
		{"prose after a colon", "Error watch of web 1337 on prod ended: deploy 1338 started and replaced it",
			"Error watch of web 1337 on prod ended: deploy 1338 started and replaced it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slashForms(tt.in); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestUserTextVerbatim: text from a person that has a command's shape (a
// lock's reason, echoed in the bot's replies) was rewritten as a Discord
// slash command when it followed a colon or a parenthesis, misquoting
// what they wrote. Only the bot's own suggestions are rewritten now.
func TestUserTextVerbatim(t *testing.T) {
	for _, reason := range []string{"deploy web 5", "rollback web prod", "/deploy web 5", "unlock deploys web prod", "lock deploys web prod now"} {
		t.Run(reason, func(t *testing.T) {
			for _, tc := range []struct{ where, text string }{
				{"after a colon", "web/prod is locked by ana since 14:02: " + reason},
				{"in parentheses", "web/prod is locked (" + reason + ")"},
			} {
				e := render(chat.Message{Level: chat.Info, Title: tc.text, Lines: []string{tc.text},
					Fields: []chat.Field{{Label: "reason", Value: reason}}}).Embeds[0]
				for _, got := range []string{e.Title, e.Description, e.Fields[0].Value} {
					if !strings.Contains(got, reason) || strings.Contains(got, ":web") {
						t.Errorf("%s: got %q, want %q as written", tc.where, got, reason)
					}
				}
			}
		})
	}
}

// TestTypedMark: a person who types the marks of a suggestion around their
// words gets nothing of it: Parse takes the marks out, and the reason is
// shown as written.
func TestTypedMark(t *testing.T) {
	mark := suggest.Command("deploy web 5")
	r := commands.Parse("lock deploys "+mark, nil, commands.Options{})
	if r.Kind != commands.Run {
		t.Fatalf("got %v %q, want a run", r.Kind, r.Reply)
	}
	if r.Cmd.Reason != "deploy web 5" {
		t.Errorf("reason: got %q, want %q", r.Cmd.Reason, "deploy web 5")
	}
	e := render(chat.Message{Level: chat.Info, Title: "web/prod is locked: " + r.Cmd.Reason}).Embeds[0]
	if want := "web/prod is locked: deploy web 5"; e.Title != want {
		t.Errorf("got %q, want %q", e.Title, want)
	}
}

// TestRenderedAdvice: a status line's advice reaches Discord in its slash
// form, title and fields included.
func TestRenderedAdvice(t *testing.T) {
	c := suggest.Command
	r := render(chat.Message{Level: chat.Info, Title: "web/prod is locked: " + c("/unlock deploys web prod"),
		Lines:  []string{"  decide: " + c("/rollback web prod to 1 from 2") + ", or " + c("/deploy web BUILD to prod")},
		Fields: []chat.Field{{Label: "next", Value: c("/rollback web prod")}}})
	e := r.Embeds[0]
	for _, tc := range []struct{ where, got, want string }{
		{"title", e.Title, "/unlock app:web env:prod"},
		{"description", e.Description, "/rollback app:web env:prod build:1 from:2, or /deploy app:web build:BUILD env:prod"},
		{"field", e.Fields[0].Value, "/rollback app:web env:prod"},
	} {
		if !strings.Contains(tc.got, tc.want) {
			t.Errorf("%s: got %q, want it to hold %q", tc.where, tc.got, tc.want)
		}
	}
}
