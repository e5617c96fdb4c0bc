package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockDurationWrittenTwice: "lock deploys accounting db migration for
// 2h 2h" locked accounting with no expiry and the reason "db migration
// for 2h 2h", and "lock deploys accounting for 2h 2h db" kept a stray
// "2h" in the reason. A duration written twice after one "for" is now
// refused, with the command written right.
func TestLockDurationWrittenTwice(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"last", "lock deploys accounting db migration for 2h 2h",
			`"2h" is written twice; write it once: ` + suggest.Command("lock deploys accounting db migration for 2h")},
		{"first", "lock deploys accounting production for 2h 2h db migration",
			`"2h" is written twice; write it once: ` + suggest.Command("lock deploys accounting production for 2h db migration")},
		{"two, first", "lock deploys for 2h 3h db",
			`"for" takes one duration, and "2h" and "3h" are two: write one, e.g. ` + suggest.Command("lock deploys for 2h db")},
		{"two, last, quoted word", `lock deploys accounting "db" for 2h 1d`,
			`"for" takes one duration, and "2h" and "1d" are two: write one, e.g. ` + suggest.Command(`lock deploys accounting "db" for 2h`)},
		{"a reason with a percent sign", "lock deploys accounting for 2h 2h 50% rollout",
			`"2h" is written twice; write it once: ` + suggest.Command("lock deploys accounting for 2h 50% rollout")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q for %v reason %q, want a reply starting %q", tt.in, got.Kind, got.Reply, got.Cmd.For, got.Cmd.Reason, tt.want)
			}
		})
	}
	// A reason starting with a word that is no duration still runs.
	in := "lock deploys accounting for 2h 2fa rollout"
	if got := Parse(in, testCat(), Options{}); got.Kind != Run || got.Cmd.Reason != "2fa rollout" || got.Cmd.For.String() != "2h0m0s" {
		t.Errorf("Parse(%q): got %v reason %q for %v (%s), want a run", in, got.Kind, got.Cmd.Reason, got.Cmd.For, got.Reply)
	}
}
