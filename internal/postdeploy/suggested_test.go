package postdeploy_test

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// catalog is the apps and envs of the watcher's tests.
type catalog struct{}

func (catalog) Apps() []string { return []string{"web"} }
func (catalog) Envs(app string) []string {
	if app != "web" {
		return nil
	}
	return []string{"prod", "production"}
}
func (catalog) DefaultEnv(string) string { return "production" }
func (catalog) Trains() []string         { return nil }

// suggested returns the commands s marks as the bot's suggestions, and
// fails t unless each is whole: one that parses, to a command of its
// own verb, with no placeholder for a word to fill in.
func suggested(t *testing.T, s string) []commands.Command {
	t.Helper()
	var cmds []commands.Command
	suggest.Rewrite(s, func(cmd string) string {
		if strings.HasPrefix(cmd, "/") {
			t.Errorf("suggestion %q is written with a slash; suggestions are written as typed, and each renderer adds its own", cmd)
		}
		for _, w := range []string{"APP", "ENV", "BUILD", "REASON"} {
			if strings.Contains(cmd, w) {
				t.Errorf("suggestion %q has the placeholder %s: nobody can type it as it is", cmd, w)
			}
		}
		r := commands.Parse(cmd, catalog{}, commands.Options{})
		if r.Kind != commands.Run {
			t.Errorf("suggestion %q does not parse: %s", cmd, r.Reply)
		}
		cmds = append(cmds, r.Cmd)
		return cmd
	})
	return cmds
}
