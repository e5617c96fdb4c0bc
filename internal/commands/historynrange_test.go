package commands

import (
	"testing"
)

// TestHistoryNFirstOutOfRange: "history 500 accounting" was answered "N
// goes last: history accounting N", as if only its place were wrong;
// moved last, 500 is refused too. The reply says N is out of range, and
// where it goes, with no command marked: there is no N to offer.
func TestHistoryNFirstOutOfRange(t *testing.T) {
	checkReplies(t, []replyCase{
		{"before the app", "history 500 accounting",
			`N must be a whole number from 1 to 100, not "500", and goes last: history accounting N`},
		{"before app and env", "history 0 accounting production",
			`N must be a whole number from 1 to 100, not "0", and goes last: history accounting production N`},
		{"between app and env", "history accounting 101 production",
			`N must be a whole number from 1 to 100, not "101", and goes last: history accounting production N`},
	})
	for _, in := range []string{"history 500 accounting", "history accounting 101 production"} {
		checkNoPlaceholderMarked(t, in, Parse(in, testCat(), Options{}).Reply)
	}
}
