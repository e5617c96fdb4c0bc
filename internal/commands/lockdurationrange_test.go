package commands

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockSecondDurationOutOfRange: "lock deploys accounting for 2h 100d
// db" locked for 2h with the reason "100d db", and "lock deploys
// accounting db for 2h 100d" never expired: a second duration out of
// range was not counted as one, so it was taken for words of the reason.
// It is now refused as a second duration is, offering one the lock takes.
func TestLockSecondDurationOutOfRange(t *testing.T) {
	checkReplies(t, []replyCase{
		{"first, too long", "lock deploys accounting for 2h 100d db",
			`"for" takes one duration, and "2h" and "100d" are two: write one, e.g. ` + suggest.Command("lock deploys accounting for 2h db")},
		{"first, zero", "lock deploys accounting for 2h 0h db",
			`"for" takes one duration, and "2h" and "0h" are two: write one, e.g. ` + suggest.Command("lock deploys accounting for 2h db")},
		{"last, too long", "lock deploys accounting db for 2h 100d",
			`"for" takes one duration, and "2h" and "100d" are two: write one, e.g. ` + suggest.Command("lock deploys accounting db for 2h")},
		{"last, the first too long", "lock deploys accounting db for 100d 2h",
			`"for" takes one duration, and "100d" and "2h" are two: write one, e.g. ` + suggest.Command("lock deploys accounting db for 2h")},
	})
}
