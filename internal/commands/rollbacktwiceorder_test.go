package commands

import "testing"

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
