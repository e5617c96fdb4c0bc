package commands

import "testing"

// TestLockNameWrittenTwice: "lock deploys accounting accounting db" was
// answered `a lock covers one app, and "accounting" is another`, and the
// env written twice likewise as another env: the same name twice is no
// second scope. Both are named as written twice now, with the command
// written right and the way to start the reason with the name.
func TestLockNameWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"app", "lock deploys accounting accounting db migration", "accounting",
			"lock deploys accounting db migration", `lock deploys accounting "db migration"`},
		{"app, env after", "lock deploys accounting accounting staging for 2h db migration", "accounting",
			"lock deploys accounting staging for 2h db migration", `lock deploys accounting staging for 2h "db migration"`},
		{"env", "lock deploys accounting production production db migration for 2h", "production",
			"lock deploys accounting production db migration for 2h", `lock deploys accounting production for 2h "db migration"`},
		{"reason quoted kept", `lock deploys accounting production production "db migration"`, "production",
			`lock deploys accounting production "db migration"`, `lock deploys accounting production "db migration"`},
	})
}
