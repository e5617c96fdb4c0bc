package discord

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/chat"
)

// TestSlashForms: the commands the bot suggests in the typed grammar are
// shown as a Discord user types them, options named; other text is left
// alone.
func TestSlashForms(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"status advice", "  decide: /rollback web prod to 1 from 2, or /deploy web BUILD to prod",
			"  decide: /rollback app:web env:prod build:1 from:2, or /deploy app:web build:BUILD env:prod"},
		{"unlock first", "decide: /rollback web prod, or /unlock deploys web prod, then /deploy web BUILD to prod",
			"decide: /rollback app:web env:prod, or /unlock app:web env:prod, then /deploy app:web build:BUILD env:prod"},
		{"after a colon", "name one: rollback web prod to BUILD (releases on disk: 1, 2)",
			"name one: /rollback app:web env:prod build:BUILD (releases on disk: 1, 2)"},
		{"to go further back", "(to go further back: /rollback web prod to BUILD)",
			"(to go further back: /rollback app:web env:prod build:BUILD)"},
		{"lock", "deploys of it are not stopped (to stop them: /lock deploys web prod REASON)",
			"deploys of it are not stopped (to stop them: /lock app:web env:prod reason:REASON)"},
		{"unlock when fixed", "web/prod is locked: db down (/unlock deploys web prod when fixed)",
			"web/prod is locked: db down (/unlock app:web env:prod when fixed)"},
		{"build with dots ends a sentence", "to undo it: rollback web prod to 2.4.0.",
			"to undo it: /rollback app:web env:prod build:2.4.0."},
		{"bare rollback", "could NOT switch back web-2 — check it and /rollback", "could NOT switch back web-2 — check it and /rollback"},
		{"not a suggestion", "last deploy 1 succeeded by bob", "last deploy 1 succeeded by bob"},
		{"deploy in prose", "Deploying web 1337 to prod (deploy d-1)", "Deploying web 1337 to prod (deploy d-1)"},
		{"a rollback's id", "Rolling back web/prod from 1337 to 1336 (rollback 20260314-140200-ab12cd)",
			"Rolling back web/prod from 1337 to 1336 (rollback 20260314-140200-ab12cd)"},
		{"a train car's deploy", "✅ web/prod 1337: deploy 20260314-140200-ab12cd succeeded",
			"✅ web/prod 1337: deploy 20260314-140200-ab12cd succeeded"},
		{"prose after a colon", "Error watch of web 1337 on prod ended: deploy 1338 started and replaced it",
			"Error watch of web 1337 on prod ended: deploy 1338 started and replaced it"},
		{"a lock's reason", "web/prod is locked by ana since 14:02: deploy freeze until the audit ends",
			"web/prod is locked by ana since 14:02: deploy freeze until the audit ends"},
		{"confirm, typed only", "to go on: deploy confirm 20260314-140200-ab12cd, or deploy abort 20260314-140200-ab12cd",
			"to go on: deploy confirm 20260314-140200-ab12cd, or deploy abort 20260314-140200-ab12cd"},
		{"confirm after a slash", "then /deploy confirm 20260314-140200-ab12cd",
			"then /deploy confirm 20260314-140200-ab12cd"},
		{"a status line", "▶ under way: deploy of build 42 by ana of web/prod (since 14:02)",
			"▶ under way: deploy of build 42 by ana of web/prod (since 14:02)"},
		{"prose in parentheses", "(rollback web when the db is back)", "(rollback web when the db is back)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slashForms(tt.in); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestRenderedAdvice: a status line's advice reaches Discord in its slash
// form, title and fields included.
func TestRenderedAdvice(t *testing.T) {
	r := render(chat.Message{Level: chat.Info, Title: "web/prod is locked: /unlock deploys web prod",
		Lines:  []string{"  decide: /rollback web prod to 1 from 2, or /deploy web BUILD to prod"},
		Fields: []chat.Field{{Label: "next", Value: "/rollback web prod"}}})
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
