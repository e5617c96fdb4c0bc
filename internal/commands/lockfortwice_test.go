package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockForWrittenTwice: "lock deploys accounting for for 2h db" locked
// accounting with the reason "for for 2h db" and no expiry, where a lock
// of 2h was asked. A "for" written twice before a duration is now named
// as written twice, with the command written right; an app named "for"
// is still named in the app's place.
func TestLockForWrittenTwice(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"every app", "lock deploys for for 2h db",
			`"for" is written twice; write it once: lock deploys for 2h db (`},
		{"after the app", "lock deploys accounting for for 2h db migration",
			`"for" is written twice; write it once: lock deploys accounting for 2h db migration (`},
		{"after the env, quoted reason", `lock deploys accounting production for FOR 2h "db migration"`,
			`"for" is written twice; write it once: lock deploys accounting production for 2h "db migration" (`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			// The text people read: the suggestion's marks aside.
			if got.Kind != Reply || !strings.HasPrefix(suggest.Strip(got.Reply), tt.want) {
				t.Errorf("Parse(%q): got %v %q for %v reason %q, want a reply starting %q", tt.in, got.Kind, got.Reply, got.Cmd.For, got.Cmd.Reason, tt.want)
			}
		})
	}
	cat := testCat()
	cat.envs["for"] = []string{"production"}
	in := "lock deploys for for 2h db"
	if got := Parse(in, cat, Options{}); got.Kind != Run || got.Cmd.App != "for" || got.Cmd.Reason != "db" {
		t.Errorf("Parse(%q) with an app for: got %v app %q reason %q (%s), want a run locking the app for", in, got.Kind, got.Cmd.App, got.Cmd.Reason, got.Reply)
	}
}
