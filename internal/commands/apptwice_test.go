package commands

import (
	"testing"
)

// TestAppWrittenTwice: "cancel accounting accounting" was answered
// `unknown env "accounting"`, and "rollback accounting accounting" was
// offered a rollback to a build named "accounting". An app written twice
// where the env goes is now named so, and so is an env written twice
// where rollback's build would be. Cancel, unlock, grant and revoke
// named the app but offered no command ("name the app once, then the env
// if any"): they offer the command written right, as the others do.
func TestAppWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"cancel", "cancel accounting accounting", "accounting", "cancel accounting", "cancel accounting production"},
		{"cancel with the env", "cancel accounting accounting production", "accounting", "cancel accounting production", "cancel accounting production"},
		{"cancel, the env quoted", `cancel accounting accounting "staging"`, "accounting", `cancel accounting "staging"`, "cancel accounting staging"},
		{"unlock", "unlock deploys accounting accounting", "accounting", "unlock deploys accounting", "unlock deploys accounting"},
		{"unlock with the env", "unlock deploys accounting accounting production", "accounting", "unlock deploys accounting production", "unlock deploys accounting production"},
		{"unlock, the app quoted", `unlock deploys "accounting" accounting production`, "accounting", `unlock deploys "accounting" production`, "unlock deploys accounting production"},
		{"grant", "grant @ana deployer accounting accounting", "accounting", "grant @ana deployer accounting", "grant @ana deployer accounting"},
		{"revoke", "revoke @ana deployer accounting accounting", "accounting", "revoke @ana deployer accounting", "revoke @ana deployer accounting"},
		{"rollback app", "rollback accounting accounting to 1336", "accounting", "rollback accounting to 1336", "rollback accounting production to 1336"},
		{"rollback env", "rollback accounting production production", "production", "rollback accounting production", "rollback accounting production"},
	})
	// An env named as its app is still one.
	cat := testCat()
	cat.envs["accounting"] = append(cat.envs["accounting"], "accounting")
	for _, in := range []string{"cancel accounting accounting", "rollback accounting accounting"} {
		if got := Parse(in, cat, Options{}); got.Kind != Run || got.Cmd.Env != "accounting" {
			t.Errorf("Parse(%q) with an env accounting: got %v env %q (%s), want a run", in, got.Kind, got.Cmd.Env, got.Reply)
		}
	}
}
