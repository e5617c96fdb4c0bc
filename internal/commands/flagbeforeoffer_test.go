package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestUnknownFlagBeforeOffer: "rollback accounting --force x y" was
// answered `unknown env "x" for accounting; … rollback accounting to x`,
// marking a rollback to a build "x", the value of a flag rollback does
// not take. A command offered for the arguments would drop the unknown
// flag the user wrote: the flag is answered first, and nothing is
// marked.
func TestUnknownFlagBeforeOffer(t *testing.T) {
	for _, tt := range []replyCase{
		{"rollback, value", "rollback accounting --force x y",
			`unknown flag "--force"; rollback takes no flags`},
		{"rollback, flag last", "rollback accounting x y --force",
			`unknown flag "--force"; rollback takes no flags`},
		{"deploy, app twice", "deploy accounting accounting 1337 --bogus",
			`unknown flag "--bogus"; deploy takes --dry-run and --force`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			if suggest.Strip(got.Reply) != got.Reply {
				t.Errorf("Parse(%q): got %q, want no command marked", tt.in, got.Reply)
			}
		})
	}
	// With no unknown flag, the rollback to a build is still offered.
	checkReplies(t, []replyCase{
		{"rollback, no flag", "rollback accounting x",
			`unknown env "x" for accounting; known envs: production, staging; to roll back to a build, write "to": ` + suggest.Command("rollback accounting to x")},
	})
}
