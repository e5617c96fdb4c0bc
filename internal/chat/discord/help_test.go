package discord

import (
	"strings"
	"testing"
)

// TestHelpIsSlash: help, as the bot answers it on Discord, lists each
// command as its slash command with its options, as the usage under a
// refusal shows it, and its examples as slash commands, and says
// nothing of typing commands (their flags, keywords and quoting): the
// typed grammar is none a Discord user can send.
func TestHelpIsSlash(t *testing.T) {
	tests := []struct {
		cmd       string
		want, not []string
	}{
		{"help", []string{
			"\n" + `/grant user: role: \[app:\] \[env:\] \[duration:\]` + "\n",
			"\n" + `/train board app: build: \[env:\] \[train:\]` + "\n",
			"\n/confirm id:\n",
			"\n/train list\n",
			`"/help command:deploy", say.`,
		}, []string{"\ngrant @USER", "\ndeploy APP BUILD", "\ntrain board APP", `"help deploy"`, "as is", `"help COMMAND"`}},
		{"help deploy", []string{
			`/deploy app: build: \[env:\] \[dry\_run:\] \[force:\]` + "\n",
			"\n/confirm id:\n",
			"\n  /deploy app:",
			"A dry run shows the plan",
		}, []string{"deploy APP BUILD", "\n  deploy ", "--dry-run", "--force", `deploy "confirm"`, "deploy confirm"}},
		{"help train", []string{
			"/train list\n",
			"\n" + `/train depart \[train:\]` + "\n",
			"Without an env a car ships",
		}, []string{"\ntrain board APP", "\ntrain depart", "to ENV", "the word now", "rest of the line"}},
		{"help rollback", []string{"/rollback app:"}, []string{"from BUILD", "rollback DEPLOY-ID"}},
		{"help lock", []string{"/lock reason:"}, []string{"rest of the line"}},
		{"help grant", []string{"/grant user:", "ROLE is a role of the configuration."}, []string{"@name", "chat mention"}},
	}
	svc, cat := gateService(t)
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			e := render(answer(t, svc, tt.cmd), cat).Embeds[0]
			text := e.Title + "\n" + e.Description + "\n"
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("got\n%s\nwant it to hold %q", text, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(text, n) {
					t.Errorf("got\n%s\nwant it without %q", text, n)
				}
			}
		})
	}
}
