package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestUnlockDuration: "unlock deploys demo for 1h" was answered unknown
// env "for" of demo. Unlock now says it takes no duration, a lock's being
// set when it is taken, and offers the unlock without it. A "for" that
// is no "for DURATION" is left as it was read.
func TestUnlockDuration(t *testing.T) {
	const why = `: a lock's duration is set when it is taken; to end the lock now, send: `
	for _, tt := range []struct {
		name, in, want, run string
	}{
		{"after the app", "unlock deploys demo for 1h",
			`unlock takes no duration ("for 1h")` + why + suggest.Command("unlock deploys demo"), "unlock deploys demo"},
		{"after the env", "unlock deploys accounting staging for 2d",
			`unlock takes no duration ("for 2d")` + why + suggest.Command("unlock deploys accounting staging"), "unlock deploys accounting staging"},
		{"with no app", "unlock deploys for 30m",
			`unlock takes no duration ("for 30m")` + why + suggest.Command("unlock deploys"), "unlock deploys"},
		{"too long is still a duration", "unlock deploys demo for 100d",
			`unlock takes no duration ("for 100d")` + why + suggest.Command("unlock deploys demo"), "unlock deploys demo"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkOffersRun(t, tt.in, got.Reply, tt.run)
		})
	}
	// A "for" with no duration after it, or quoted, is still looked up
	// as an env; an env named "for" is that env.
	for _, tt := range []struct{ in, want string }{
		{"unlock deploys demo for maintenance", `unknown env "for" for demo`},
		{`unlock deploys demo "for" 1h`, `unknown env "for" for demo`},
	} {
		if got := Parse(tt.in, testCat(), Options{}); got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
			t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
		}
	}
	cat := testCat()
	cat.envs["demo"] = append(cat.envs["demo"], "for")
	if got := Parse("unlock deploys demo for 1h", cat, Options{}); got.Kind != Reply || !strings.HasPrefix(got.Reply, `unexpected word "1h"`) {
		t.Errorf(`Parse("unlock deploys demo for 1h") with "for" an env of demo: got %v %q, want the env "for" read and "1h" refused`, got.Kind, got.Reply)
	}
}
