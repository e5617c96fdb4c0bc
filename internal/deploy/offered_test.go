package deploy_test

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// offered returns the commands s marks as the bot's suggestions, and
// fails t unless each is whole: written as typed, with no placeholder
// for a word to fill in, and one that parses against cfg's apps and envs.
func offered(t *testing.T, cfg *config.Config, s string) []commands.Command {
	t.Helper()
	var cmds []commands.Command
	suggest.Rewrite(s, func(cmd string) string {
		if strings.HasPrefix(cmd, "/") {
			t.Errorf("suggestion %q is written with a slash; suggestions are written as typed, and each renderer adds its own", cmd)
		}
		for _, w := range []string{"APP", "ENV", "BUILD", "REASON", "ID"} {
			if strings.Contains(cmd, w) {
				t.Errorf("suggestion %q has the placeholder %s: nobody can type it as it is", cmd, w)
			}
		}
		r := commands.Parse(cmd, commands.CatalogOf(cfg), commands.Options{})
		if r.Kind != commands.Run {
			t.Errorf("suggestion %q does not parse: %s", cmd, r.Reply)
		}
		cmds = append(cmds, r.Cmd)
		return cmd
	})
	return cmds
}

// wantOffers fails t unless s, a message of f's app web in prod, offers
// exactly rollbacks to the builds to, in order, each marked and whole.
func wantOffers(t *testing.T, f *fixture, s string, to ...string) {
	t.Helper()
	cmds := offered(t, f.cfg, s)
	if len(cmds) != len(to) {
		t.Errorf("offers %d commands, want %d (rollbacks to %q): %q", len(cmds), len(to), to, s)
		return
	}
	for i, c := range cmds {
		if c.Verb != commands.VerbRollback || c.App != "web" || c.Env != "prod" || c.Build != to[i] || c.From != "" {
			t.Errorf("offer %d: got %+v, want a rollback of web/prod to %s", i, c, to[i])
		}
	}
}
