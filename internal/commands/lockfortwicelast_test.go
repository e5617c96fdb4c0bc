package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockForWrittenTwiceLast: "lock deploys accounting db for for 2h"
// locked accounting for 2h with the reason "db for": the duration was
// right, and a stray "for" was left in the reason. A "for" written twice
// before the duration that ends the reason is now refused as written
// twice, with the command written right.
func TestLockForWrittenTwiceLast(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"after the app", "lock deploys accounting db for for 2h",
			`"for" is written twice; write it once: ` + suggest.Command("lock deploys accounting db for 2h")},
		{"every app", "lock deploys db migration FOR for 2h",
			`"for" is written twice; write it once: ` + suggest.Command("lock deploys db migration for 2h")},
		{"after the env, quoted word", `lock deploys accounting production "db migration" for for 1d`,
			`"for" is written twice; write it once: ` + suggest.Command(`lock deploys accounting production "db migration" for 1d`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q for %v reason %q, want a reply starting %q", tt.in, got.Kind, got.Reply, got.Cmd.For, got.Cmd.Reason, tt.want)
			}
		})
	}
	// A reason ending with "for", quoted, is still one.
	in := `lock deploys accounting "db for" for 2h`
	if got := Parse(in, testCat(), Options{}); got.Kind != Run || got.Cmd.Reason != "db for" || got.Cmd.For.String() != "2h0m0s" {
		t.Errorf("Parse(%q): got %v reason %q for %v (%s), want a run", in, got.Kind, got.Cmd.Reason, got.Cmd.For, got.Reply)
	}
}
