package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockDurationThree: "lock deploys accounting for 2h for 3h 4h db"
// offered "lock deploys accounting for 2h 4h db", which is refused in
// turn as two durations: the third duration was kept as the start of the
// reason. The command offered now leaves every extra duration out. Three
// durations last, after the reason, made a lock that never expires with
// them in its reason; they are refused as two are.
func TestLockDurationThree(t *testing.T) {
	for _, tt := range []struct {
		name, in, want, run string
	}{
		{"for written twice", "lock deploys accounting for 2h for 3h 4h db",
			`"for" takes one duration, and "2h" and "3h" are two: write one, e.g. ` + suggest.Command("lock deploys accounting for 2h db"),
			`lock deploys accounting for 2h "db"`},
		{"for written twice, too long", "lock deploys accounting for 2h for 100d 200d db",
			`"for" takes one duration, and "2h" and "100d" are two: write one, e.g. ` + suggest.Command("lock deploys accounting for 2h db"),
			`lock deploys accounting for 2h "db"`},
		{"for written twice, same", "lock deploys accounting for 2h for 2h 4h db",
			`"for" is written twice; write it once: ` + suggest.Command("lock deploys accounting for 2h db"),
			`lock deploys accounting for 2h "db"`},
		{"one for", "lock deploys accounting for 2h 3h 4h db",
			`"for" takes one duration, and "2h" and "3h" are two: write one, e.g. ` + suggest.Command("lock deploys accounting for 2h db"),
			`lock deploys accounting for 2h "db"`},
		{"one for, same", "lock deploys accounting production for 2h 2h 1d db migration",
			`"2h" is written twice; write it once: ` + suggest.Command("lock deploys accounting production for 2h db migration"),
			`lock deploys accounting production for 2h "db migration"`},
		// Last, after the reason: taken as words of it, they made a lock
		// that never expires.
		{"last", "lock deploys accounting db for 2h 3h 4h",
			`"for" takes one duration, and "2h" and "3h" are two: write one, e.g. ` + suggest.Command("lock deploys accounting db for 2h"),
			`lock deploys accounting for 2h "db"`},
		{"last, same", "lock deploys accounting production db migration for 2h 2h 2h",
			`"2h" is written twice; write it once: ` + suggest.Command("lock deploys accounting production db migration for 2h"),
			`lock deploys accounting production for 2h "db migration"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkNoPlaceholderMarked(t, tt.in, got.Reply)
			suggest.Rewrite(got.Reply, func(cmd string) string {
				if back := Parse(cmd, testCat(), Options{}); back.Kind != Run || back.Cmd.Text != tt.run {
					t.Errorf("Parse(%q), offered: got %v %q (%s), want a run of %q", cmd, back.Kind, back.Cmd.Text, back.Reply, tt.run)
				}
				return cmd
			})
		})
	}
}
