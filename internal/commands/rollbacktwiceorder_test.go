package commands

import (
	"strings"
	"testing"
)

// TestRollbackWrittenTwiceOffersOrder: "rollback accounting from 1337
// 1337 to 1336" offered "rollback accounting from 1337 to 1336", which
// the parser refuses ("to BUILD" goes before "from BUILD"). A word
// written twice before both builds, in either order, is answered with
// the rollback in the order the parser takes, each part kept.
func TestRollbackWrittenTwiceOffersOrder(t *testing.T) {
	const run = "rollback accounting production to 1336 from 1337"
	checkTwice(t, []twiceCase{
		{"from build", "rollback accounting from 1337 1337 to 1336", "1337",
			"rollback accounting to 1336 from 1337", run},
		{"from build, env", "rollback accounting production from 1337 1337 to 1336", "1337",
			"rollback accounting production to 1336 from 1337", run},
		{"from", "rollback accounting from from 1337 to 1336", "from",
			"rollback accounting to 1336 from 1337", run},
		{"to, from after", "rollback accounting to to 1336 from 1337", "to",
			"rollback accounting to 1336 from 1337", run},
		{"app", "rollback accounting accounting from 1337 to 1336", "accounting",
			"rollback accounting to 1336 from 1337", run},
		{"app, env after", "rollback accounting accounting production to 1336", "accounting",
			"rollback accounting production to 1336", "rollback accounting production to 1336"},
		{"env", "rollback accounting production production from 1337 to 1336", "production",
			"rollback accounting production to 1336 from 1337", run},
		{"quoted build kept", `rollback accounting from "1337" 1337 to '1336'`, "1337",
			`rollback accounting to "1336" from "1337"`, run},
	})
}

// TestRollbackToTwiceNoBuild: "rollback accounting production to to from
// 1337" offered "rollback accounting production to from", a rollback to a
// build named "from", marked as a command to send. With no build after
// the "to" written twice, the form with BUILD to fill in is shown, not
// marked.
func TestRollbackToTwiceNoBuild(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"rollback accounting production to to from 1337",
			`"to" is written twice; write it once: rollback accounting production to BUILD from 1337; without "to BUILD" the previous good release is used`},
		{"rollback accounting to to from 1337",
			`"to" is written twice; write it once: rollback accounting to BUILD from 1337;`},
	} {
		got := Parse(tt.in, testCat(), Options{})
		if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
			t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
		}
		checkNoPlaceholderMarked(t, tt.in, got.Reply)
	}
}
