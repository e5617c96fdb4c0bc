package commands

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestRoleWrittenTwice: "grant @ana deployer deployer" was answered
// `unknown app "deployer"`, looking the second up as an app. The role
// written twice is now named so, with the command written right.
func TestRoleWrittenTwice(t *testing.T) {
	checkReplies(t, []replyCase{
		{"alone", "grant @ana deployer deployer",
			`"deployer" is written twice; write it once: ` + suggest.Command("grant @ana deployer")},
		{"with a target and a duration", "grant @ana deployer deployer accounting production for 2h",
			`"deployer" is written twice; write it once: ` + suggest.Command("grant @ana deployer accounting production for 2h")},
		{"revoke", "revoke @ana deployer deployer accounting",
			`"deployer" is written twice; write it once: ` + suggest.Command("revoke @ana deployer accounting")},
	})
	// An app named as the role is still the app.
	in := "grant @ana accounting accounting"
	if got := Parse(in, testCat(), Options{}); got.Kind != Run || got.Cmd.Role != "accounting" || got.Cmd.App != "accounting" {
		t.Errorf("Parse(%q): got %v role %q app %q (%s), want a run", in, got.Kind, got.Cmd.Role, got.Cmd.App, got.Reply)
	}
}
