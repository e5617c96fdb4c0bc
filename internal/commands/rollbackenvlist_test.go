package commands

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestRollbackUnknownEnvNamesEnvs: "rollback accounting qa" was answered
// `unknown env "qa" for accounting; to roll back to a build, write "to":
// …` alone, where deploy, cancel, unlock and the rest name the envs the
// app has. Whoever meant an env (the likelier slip for a word such as
// "qa") was left to guess it; the reply names them before it offers the
// rollback to a build of that name.
func TestRollbackUnknownEnvNamesEnvs(t *testing.T) {
	checkReplies(t, []replyCase{
		{"env not configured", "rollback accounting qa",
			`unknown env "qa" for accounting; known envs: production, staging; to roll back to a build, write "to": ` +
				suggest.Command("rollback accounting to qa")},
		{"build without to", "rollback accounting 1336",
			`unknown env "1336" for accounting; known envs: production, staging; to roll back to a build, write "to": ` +
				suggest.Command("rollback accounting to 1336")},
	})
}
