package commands

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestUserFirstKeepsTarget: "grant deployer @ana accounting production
// for 2h" was answered "the user comes first: grant @ana deployer", a
// grant of deployer on every app until revoked where one on
// accounting/production for 2h was asked for, and written as plain text
// rather than offered. The command offered now keeps every word after the
// user, and reads as what was meant.
func TestUserFirstKeepsTarget(t *testing.T) {
	for _, tt := range []struct {
		name, in, fixed string
		want            Command
	}{
		{"grant with target and duration", "grant deployer @ana accounting production for 2h",
			"grant @ana deployer accounting production for 2h",
			Command{Verb: VerbGrant, User: "ana", Role: "deployer", App: "accounting", Env: "production"}},
		{"revoke with app", "revoke deployer @ana accounting",
			"revoke @ana deployer accounting",
			Command{Verb: VerbRevoke, User: "ana", Role: "deployer", App: "accounting"}},
		{"mention", "grant deployer <@!123>",
			"grant <@123> deployer",
			Command{Verb: VerbGrant, User: "123", UserIsID: true, Role: "deployer"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := "the role is written before the user; the user comes first: " + suggest.Command(tt.fixed)
			checkReplies(t, []replyCase{{tt.name, tt.in, want}})
			got := Parse(tt.fixed, testCat(), Options{})
			if got.Kind != Run || got.Cmd.Verb != tt.want.Verb || got.Cmd.User != tt.want.User || got.Cmd.UserIsID != tt.want.UserIsID ||
				got.Cmd.Role != tt.want.Role || got.Cmd.App != tt.want.App || got.Cmd.Env != tt.want.Env {
				t.Errorf("Parse(%q): got %v %+v (%s), want %+v", tt.fixed, got.Kind, got.Cmd, got.Reply, tt.want)
			}
		})
	}
	// A second slip in the words kept is named after the first, with no
	// command offered that would not run.
	checkReplies(t, []replyCase{
		{"second slip", "grant deployer @ana acounting",
			`the role is written before the user; the user comes first, and unknown app "acounting"`},
	})
}
