package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestTwiceOfferRefused: "train board board accounting 1337 --dry-run on
// daily" offered the marked "train board accounting 1337 --dry-run on
// daily", which is refused: train board takes no flags. A verb or train
// action written twice is named, and then what else is wrong; no refused
// command is marked.
func TestTwiceOfferRefused(t *testing.T) {
	for _, tt := range []replyCase{
		{"board, a flag", "train board board accounting 1337 --dry-run on daily",
			`"board" is written twice; write it once, and unknown flag "--dry-run"; train board takes no flags`},
		{"train before board, a flag", "train train board accounting 1337 --dry-run on daily",
			`"train" is written twice; write it once, and unknown flag "--dry-run"; train board takes no flags`},
		{"leave, a flag with a value", "train leave leave accounting --force x on daily",
			`"leave" is written twice; write it once, and unknown flag "--force"; train leave takes no flags`},
		{"deploy, an unknown flag", "deploy deploy accounting 1337 --bogus",
			`"deploy" is written twice; write it once, and unknown flag "--bogus"; deploy takes --dry-run and --force`},
		{"deploy, nothing else", "deploy deploy",
			`"deploy" is written twice; write it once, and deploy needs an app and a build`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkNoPlaceholderMarked(t, tt.in, got.Reply)
			suggest.Rewrite(got.Reply, func(cmd string) string {
				if back := Parse(cmd, testCat(), Options{}); back.Kind != Run {
					t.Errorf("Parse(%q): the command %q marked in %q is refused: %s", tt.in, cmd, got.Reply, back.Reply)
				}
				return cmd
			})
		})
	}
	// Written three times, the command offered is the one that runs.
	checkTwice(t, []twiceCase{
		{"deploy three times", "deploy deploy deploy accounting 1337", "deploy",
			"deploy accounting 1337", "deploy accounting 1337 to production"},
		{"board three times", "train board board board accounting 1337 on daily", "board",
			"train board accounting 1337 on daily", "train board accounting 1337 on daily"},
	})
}
