package commands

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestAppWrittenTwice: "cancel accounting accounting" was answered
// `unknown env "accounting"`, and "rollback accounting accounting" was
// offered a rollback to a build named "accounting". An app written twice
// where the env goes is now named so, and so is an env written twice
// where rollback's build would be.
func TestAppWrittenTwice(t *testing.T) {
	const named = `"accounting" is written twice: name the app once, then the env if any; known envs of accounting: production, staging`
	checkReplies(t, []replyCase{
		{"cancel", "cancel accounting accounting", named},
		{"unlock", "unlock deploys accounting accounting", named},
		{"grant", "grant @ana deployer accounting accounting", named},
		{"revoke", "revoke @ana deployer accounting accounting", named},
		{"rollback app", "rollback accounting accounting to 1336",
			`"accounting" is written twice; write it once: ` + suggest.Command("rollback accounting to 1336")},
		{"rollback env", "rollback accounting production production",
			`"production" is written twice; write it once: ` + suggest.Command("rollback accounting production")},
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
