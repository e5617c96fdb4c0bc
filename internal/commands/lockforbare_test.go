package commands

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockForBareAfterDuration: "lock deploys accounting for 2h for" was
// answered that "for" needs a duration after it, when it had one: the
// trailing "for", with nothing after it, is a second one. It is now named
// as written twice, with the command written right; so is a trailing
// "for" after a duration that ends the reason ("… db for 2h for"), which
// was told the same. The form with REASON to fill in is not marked as a
// command: sent, it locked with the reason "REASON".
func TestLockForBareAfterDuration(t *testing.T) {
	checkReplies(t, []replyCase{
		{"after the app", "lock deploys accounting for 2h for",
			`"for" is written twice, and a lock must say why: ` + "lock deploys accounting for 2h REASON" +
				`, or, to give "for" as the reason, quote it: ` + suggest.Command(`lock deploys accounting for 2h "for"`)},
		{"every app", "lock deploys for 2h FOR",
			`"for" is written twice, and a lock must say why: ` + "lock deploys for 2h REASON" +
				`, or, to give "FOR" as the reason, quote it: ` + suggest.Command(`lock deploys for 2h "FOR"`)},
		{"after the env", "lock deploys accounting production for 1d for",
			`"for" is written twice, and a lock must say why: ` + "lock deploys accounting production for 1d REASON"},
		{"after a duration ending the reason", "lock deploys accounting db migration for 2h for",
			`"for" is written twice; write it once: ` + suggest.Command("lock deploys accounting db migration for 2h") + ` (to end the reason with "for", quote it)`},
		{"after a duration ending a quoted reason", `lock deploys accounting "db migration" for 2h for`,
			`"for" is written twice; write it once: ` + suggest.Command(`lock deploys accounting "db migration" for 2h`)},
	})
	// The commands offered parse back to what was meant.
	for _, tt := range []struct {
		in     string
		reason string
	}{
		{`lock deploys accounting for 2h "for"`, "for"},
		{"lock deploys accounting db migration for 2h", "db migration"},
		{`lock deploys accounting "db migration" for 2h`, "db migration"},
		{`lock deploys accounting "db for 2h for"`, "db for 2h for"},
	} {
		got := Parse(tt.in, testCat(), Options{})
		want := 2 * time.Hour
		if tt.reason == "db for 2h for" {
			want = 0
		}
		if got.Kind != Run || got.Cmd.App != "accounting" || got.Cmd.Reason != tt.reason || got.Cmd.For != want {
			t.Errorf("Parse(%q): got %v app %q reason %q for %v (%s), want a run locking accounting for %v, reason %q", tt.in, got.Kind, got.Cmd.App, got.Cmd.Reason, got.Cmd.For, got.Reply, want, tt.reason)
		}
	}
}
