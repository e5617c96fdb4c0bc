package commands

import "testing"

// TestForceTwiceValueForm: "deploy accounting 1337 --force --FORCE=a" was
// answered that --force needs a reason: the flag written again right
// after itself was taken for one written twice only when written without
// "=" and its reason. Any case and the "=" form are the same flag, and
// the slip is named so, with the command holding it once.
func TestForceTwiceValueForm(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"= form in another case", "deploy accounting 1337 --force --FORCE=a", "--force",
			"deploy accounting 1337 --FORCE=a", `deploy accounting 1337 to production --force "a"`},
		{"= form", "deploy accounting 1337 to staging --force --force=hotfix", "--force",
			"deploy accounting 1337 to staging --force=hotfix", `deploy accounting 1337 to staging --force "hotfix"`},
		{"another case", `deploy accounting 1337 --Force --force "db migration"`, "--force",
			`deploy accounting 1337 --force "db migration"`, `deploy accounting 1337 to production --force "db migration"`},
	})
}
