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
		// A duration without "for", or a "for" with none after it, last:
		// answered an unknown env or a stray word before.
		{"bare after the app", "unlock deploys demo 1h",
			`unlock takes no duration ("1h")` + why + suggest.Command("unlock deploys demo"), "unlock deploys demo"},
		{"bare after the env", "unlock deploys demo staging 1h",
			`unlock takes no duration ("1h")` + why + suggest.Command("unlock deploys demo staging"), "unlock deploys demo staging"},
		{"bare with no app", "unlock deploys 2d",
			`unlock takes no duration ("2d")` + why + suggest.Command("unlock deploys"), "unlock deploys"},
		{"bare too long", "unlock deploys accounting production 100d",
			`unlock takes no duration ("100d")` + why + suggest.Command("unlock deploys accounting production"), "unlock deploys accounting production"},
		{"bare for after the app", "unlock deploys demo for",
			`unlock takes no duration ("for")` + why + suggest.Command("unlock deploys demo"), "unlock deploys demo"},
		{"bare for after the env", "unlock deploys demo staging for",
			`unlock takes no duration ("for")` + why + suggest.Command("unlock deploys demo staging"), "unlock deploys demo staging"},
		{"bare for with no app", "unlock deploys for",
			`unlock takes no duration ("for")` + why + suggest.Command("unlock deploys"), "unlock deploys"},
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
	// as an env, and so is a duration after a name that is no env; an
	// env named "for" or "1h" is that env.
	for _, tt := range []struct{ in, want string }{
		{"unlock deploys demo for maintenance", `unknown env "for" for demo`},
		{`unlock deploys demo "for" 1h`, `unknown env "for" for demo`},
		{`unlock deploys demo "1h"`, `unknown env "1h" for demo`},
		{`unlock deploys demo "for"`, `unknown env "for" for demo`},
		{"unlock deploys demo local 1h", `unknown env "local" for demo`},
		{"unlock deploys demo 1h staging", `unknown env "1h" for demo`},
	} {
		if got := Parse(tt.in, testCat(), Options{}); got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
			t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
		}
	}
	cat := testCat()
	cat.envs["demo"] = append(cat.envs["demo"], "for", "1h")
	want := `unlock takes no duration ("1h")` + why + suggest.Command("unlock deploys demo for")
	if got := Parse("unlock deploys demo for 1h", cat, Options{}); got.Kind != Reply || !strings.HasPrefix(got.Reply, want) {
		t.Errorf(`Parse("unlock deploys demo for 1h") with "for" an env of demo: got %v %q, want the env "for" read and "1h" refused with a reply starting %q`, got.Kind, got.Reply, want)
	}
	for _, in := range []string{"unlock deploys demo for", "unlock deploys demo 1h"} {
		if got := Parse(in, cat, Options{}); got.Kind != Run || got.Cmd.Env != in[len("unlock deploys demo "):] {
			t.Errorf(`Parse(%q) with "for" and "1h" envs of demo: got %v %q %q, want a run of that env`, in, got.Kind, got.Cmd.Env, got.Reply)
		}
	}
}
