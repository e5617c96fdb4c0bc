package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestGrantRoleLeftOut: "grant @ana for 2h" read "for" as the role and
// was answered `write "for" before the duration: grant @ana for for 2h`,
// which, sent, draws the same answer again. The role is named as left
// out now, with no command to send: the bot cannot tell which role.
func TestGrantRoleLeftOut(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"grant @ana for 2h", "grant needs a role after the user, e.g. grant @ana deployer for 2h"},
		{"grant @ana FOR 1d", "grant needs a role after the user, e.g. grant @ana deployer for 1d"},
		{"revoke @ana for 2h", "revoke needs a role after the user, e.g. revoke @ana deployer"},
	} {
		got := Parse(tt.in, testCat(), Options{})
		if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) || suggest.Strip(got.Reply) != got.Reply {
			t.Errorf("Parse(%q): got %v %q, want an unmarked reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
		}
	}
	// A role named "for" is still one where more follows.
	if got := Parse("grant @ana for accounting", testCat(), Options{}); got.Kind != Run || got.Cmd.Role != "for" {
		t.Errorf(`Parse("grant @ana for accounting"): got %v role %q (%s), want a grant of the role for`, got.Kind, got.Cmd.Role, got.Reply)
	}
}
