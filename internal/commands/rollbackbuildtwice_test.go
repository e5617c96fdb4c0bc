package commands

import "testing"

// TestRollbackBuildWrittenTwice: "rollback accounting to 1336 1336" and
// "… from 1337 1337" were answered `unexpected word`, where deploy names
// its build written twice. Rollback now names either build so, with the
// command written right, each other part kept as written.
func TestRollbackBuildWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"to", "rollback accounting to 1336 1336", "1336",
			"rollback accounting to 1336", "rollback accounting production to 1336"},
		{"to, from after", "rollback accounting staging to 1336 1336 from 1337", "1336",
			"rollback accounting staging to 1336 from 1337", "rollback accounting staging to 1336 from 1337"},
		{"from", "rollback accounting production from 1337 1337", "1337",
			"rollback accounting production from 1337", "rollback accounting production from 1337"},
		{"from, to before", "rollback accounting production to 1336 from 1337 1337", "1337",
			"rollback accounting production to 1336 from 1337", "rollback accounting production to 1336 from 1337"},
		{"quoted kept", `rollback accounting "production" to 1336 1336`, "1336",
			`rollback accounting "production" to 1336`, "rollback accounting production to 1336"},
	})
}
