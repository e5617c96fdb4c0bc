package commands

import "testing"

// TestAuditNFirstOutOfRange: "audit 500 accounting" was answered "N comes
// after the app: audit accounting N", as if only its place were wrong;
// moved after the app, 500 is refused too. The reply says N is out of
// range, and where it goes, as history's does.
func TestAuditNFirstOutOfRange(t *testing.T) {
	checkReplies(t, []replyCase{
		{"too many", "audit 500 accounting",
			`N must be a whole number from 1 to 200, not "500", and comes after the app: audit accounting N`},
		{"zero", "audit 0 accounting",
			`N must be a whole number from 1 to 200, not "0", and comes after the app: audit accounting N`},
	})
	checkNoPlaceholderMarked(t, "audit 500 accounting", Parse("audit 500 accounting", testCat(), Options{}).Reply)
}
