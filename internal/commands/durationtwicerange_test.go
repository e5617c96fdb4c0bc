package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestDurationTwiceOutOfRange: "lock deploys accounting db for 100d 200d"
// was answered with "lock deploys accounting db for 100d" marked as the
// command to send, which is refused as too long; so was "… for 100d
// 100d" as a duration written twice. A duration is offered only when
// the lock takes it; with none, the reply gives the range and marks no
// command.
func TestDurationTwiceOutOfRange(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"two, both too long", "lock deploys accounting db for 100d 200d",
			`"for" takes one duration, and "100d" and "200d" are two, neither of which a lock takes: write one from 1m to 90d`},
		{"two, both zero", "lock deploys accounting db for 0h 0m",
			`"for" takes one duration, and "0h" and "0m" are two, neither of which a lock takes: write one from 1m to 90d`},
		{"twice, too long", "lock deploys accounting db for 100d 100d",
			`"100d" is written twice, and a lock takes a duration from 1m to 90d`},
		{"two before the reason, both too long", "lock deploys accounting for 100d 200d db",
			`duration "100d" is too long; the limit is 90d`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkNoPlaceholderMarked(t, tt.in, got.Reply)
			// Whatever is marked is a command the lock takes.
			suggest.Rewrite(got.Reply, func(cmd string) string {
				if back := Parse(cmd, testCat(), Options{}); back.Kind != Run {
					t.Errorf("Parse(%q): the command %q marked in %q is refused: %s", tt.in, cmd, got.Reply, back.Reply)
				}
				return cmd
			})
			if !strings.HasPrefix(tt.name, "first") && !strings.HasPrefix(tt.name, "second") {
				if suggest.Strip(got.Reply) != got.Reply {
					t.Errorf("Parse(%q): got %q, want no command marked", tt.in, got.Reply)
				}
			}
		})
	}
	// One in range is offered, whichever it is.
	checkReplies(t, []replyCase{
		{"first too long", "lock deploys accounting db for 100d 2h",
			`"for" takes one duration, and "100d" and "2h" are two: write one, e.g. ` + suggest.Command("lock deploys accounting db for 2h")},
		{"second too long", "lock deploys accounting db for 2h 100d",
			`"for" takes one duration, and "2h" and "100d" are two: write one, e.g. ` + suggest.Command("lock deploys accounting db for 2h")},
	})
}
