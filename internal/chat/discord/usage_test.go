package discord

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
)

// TestRefusalUsageIsSlash: a refusal of the parser shows its command's
// usage as a Discord user sends it, the slash command and its options,
// its actions' usage lines too.
func TestRefusalUsageIsSlash(t *testing.T) {
	tests := []struct {
		cmd  string
		want string // the end of the rendered reply
	}{
		{"grant @ana @ana deployer web", `usage: /grant user: role: \[app:\] \[env:\] \[duration:\]`},
		{"revoke @ana", `usage: /revoke user: role: \[app:\] \[env:\]`},
		{"deploy web", `usage: /deploy app: build: \[env:\] \[dry\_run:\] \[force:\]`},
		{"train --now", "usage: /train list\n" + usageIndent + `/train board app: build: \[env:\] \[train:\]` + "\n" +
			usageIndent + `/train leave app: \[train:\]` + "\n" + usageIndent + `/train cancel reason: \[train:\]` + "\n" +
			usageIndent + `/train depart \[train:\]`},
		{"deploy confirm", "usage: /confirm id:"},
		{"train board web", "usage: /train board app: build: \\[env:\\] \\[train:\\]"},
		{"here for ever", `usage: /here \[duration:\]`},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			r := commands.Parse(tt.cmd, testCatalog{}, commands.Options{})
			if r.Kind != commands.Reply {
				t.Fatalf("Parse(%q) kind %v, want a refusal", tt.cmd, r.Kind)
			}
			got := render(chat.Message{Title: r.Reply}, testCatalog{}).Embeds[0]
			text := got.Title + got.Description
			if !strings.HasSuffix(text, tt.want) {
				t.Errorf("got %q, want it to end with %q", text, tt.want)
			}
		})
	}
}

// TestEveryUsageHasASlashForm: every usage line a refusal can end with,
// every command's and its actions', is shown as a slash command, so a
// command added to the grammar or to the slash commands without the
// other fails here.
func TestEveryUsageHasASlashForm(t *testing.T) {
	for _, v := range commands.Verbs() {
		t.Run(string(v), func(t *testing.T) {
			r := commands.Parse(string(v)+" --no-such-flag", testCatalog{}, commands.Options{})
			_, usage, ok := strings.Cut(r.Reply, "\n"+usagePrefix)
			if !ok {
				t.Fatalf("refusal %q has no usage", r.Reply)
			}
			for _, l := range strings.Split(slashUsages(usagePrefix+usage), "\n") {
				l = strings.TrimPrefix(strings.TrimPrefix(l, usagePrefix), usageIndent)
				if !strings.HasPrefix(l, "/") {
					t.Errorf("usage line %q has no slash form", l)
				}
			}
		})
	}
}
