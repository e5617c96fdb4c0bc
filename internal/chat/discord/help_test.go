package discord

import (
	"strings"
	"testing"
)

// TestHelpIsSlash: help, as the bot answers it on Discord, lists each
// command as its slash command with its options, as the usage under a
// refusal shows it, and its examples as slash commands: the typed
// grammar is none a Discord user can send.
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
			`e.g. "/help command:deploy".`,
		}, []string{"\ngrant @USER", "\ndeploy APP BUILD", "\ntrain board APP", `"help deploy"`}},
		{"help deploy", []string{
			`/deploy app: build: \[env:\] \[dry\_run:\] \[force:\]` + "\n",
			"\n/confirm id:\n",
			"\n  /deploy app:",
		}, []string{"deploy APP BUILD", "\n  deploy "}},
		{"help train", []string{
			"/train list\n",
			"\n" + `/train depart \[train:\]` + "\n",
		}, []string{"\ntrain board APP", "\ntrain depart"}},
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
