package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockForDurationWrittenTwice: "lock deploys accounting for 2h for 2h
// db migration" locked with the reason "for 2h db migration", where "for
// for 2h" and "for 2h 2h" are named written twice. "for DURATION" written
// twice whole before the reason is named so now, with the command
// written right; two durations are named as two, as after one "for".
func TestLockForDurationWrittenTwice(t *testing.T) {
	for _, tt := range []struct{ name, in, want, fixed string }{
		{"same", "lock deploys accounting for 2h for 2h db migration",
			`"for" is written twice; write it once: `, "lock deploys accounting for 2h db migration"},
		{"same, any case, env", "lock deploys accounting production for 2h FOR 2H db",
			`"for" is written twice; write it once: `, "lock deploys accounting production for 2h db"},
		{"two", "lock deploys accounting for 2h for 3h db migration",
			`"for" takes one duration, and "2h" and "3h" are two: write one, e.g. `, "lock deploys accounting for 2h db migration"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if want := tt.want + suggest.Command(tt.fixed); got.Kind != Reply || !strings.HasPrefix(got.Reply, want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, want)
			}
			if back := Parse(tt.fixed, testCat(), Options{}); back.Kind != Run || back.Cmd.For == 0 || strings.HasPrefix(back.Cmd.Reason, "for") {
				t.Errorf("Parse(%q), offered: got %v for %v reason %q (%s), want a timed lock", tt.fixed, back.Kind, back.Cmd.For, back.Cmd.Reason, back.Reply)
			}
		})
	}
	// A reason quoted whole is the reason.
	if got := Parse(`lock deploys accounting for 2h "for 2h db"`, testCat(), Options{}); got.Kind != Run || got.Cmd.Reason != "for 2h db" {
		t.Errorf("quoted reason: got %v reason %q (%s), want a run", got.Kind, got.Cmd.Reason, got.Reply)
	}
}
