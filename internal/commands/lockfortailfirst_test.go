package commands

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockForAtEndAfterDuration: "lock deploys accounting for 2h db for"
// locked with the reason "db for": the bare "for" that ends a reason was
// refused only when no duration came first. It is now refused too, with
// the command written right.
func TestLockForAtEndAfterDuration(t *testing.T) {
	checkReplies(t, []replyCase{
		{"after the app", "lock deploys accounting for 2h db for",
			`"for" is written twice; write it once: ` + suggest.Command("lock deploys accounting for 2h db")},
		{"every app, quoted word", `lock deploys for 2h "db migration" FOR`,
			`"for" is written twice; write it once: ` + suggest.Command(`lock deploys for 2h "db migration"`)},
		{"app and env", "lock deploys accounting production for 1d waiting for",
			`"for" is written twice; write it once: ` + suggest.Command("lock deploys accounting production for 1d waiting")},
	})
	in := `lock deploys accounting for 2h "waiting for"`
	if got := Parse(in, testCat(), Options{}); got.Kind != Run || got.Cmd.Reason != "waiting for" || got.Cmd.For.String() != "2h0m0s" {
		t.Errorf("Parse(%q): got %v reason %q for %v (%s), want a run", in, got.Kind, got.Cmd.Reason, got.Cmd.For, got.Reply)
	}
}
