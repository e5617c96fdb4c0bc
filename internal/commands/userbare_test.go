package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// usersCat is testCat naming its users, as the config's catalog does.
type usersCat struct {
	testCatalog
	users []string
}

func (c usersCat) Users() []string { return c.users }

// TestUserWithoutAtOffered: "grant ana deployer accounting" was answered
// "write the user with an @: @ana, or mention them", leaving the command
// to be typed again by hand. For a user of the config, the command
// written right is offered, every other word kept, as for the other slips
// of grant and revoke; a bare word that names no user ("grant deployer
// ana", the role first) is offered nothing it would misread.
func TestUserWithoutAtOffered(t *testing.T) {
	cat := usersCat{testCatalog: testCat(), users: []string{"ana", "bob"}}
	for _, tt := range []struct{ name, in, want string }{
		{"grant", "grant ana deployer accounting production for 2h",
			`the user "ana" is written without an @; write it with one, or mention them: ` +
				suggest.Command("grant @ana deployer accounting production for 2h")},
		{"revoke", "revoke ana deployer accounting",
			`the user "ana" is written without an @; write it with one, or mention them: ` +
				suggest.Command("revoke @ana deployer accounting")},
		{"second slip", "grant ana deployer acounting",
			`the user "ana" is written without an @; write it with one, or mention them, and unknown app "acounting"`},
		{"role first, no user", "grant deployer ana", "write the user with an @: @deployer, or mention them"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, cat, Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
	fixed := "grant @ana deployer accounting production for 2h"
	if got := Parse(fixed, cat, Options{}); got.Kind != Run || got.Cmd.User != "ana" || got.Cmd.App != "accounting" || got.Cmd.Env != "production" {
		t.Errorf("Parse(%q): got %v %+v (%s), want a grant to ana on accounting/production", fixed, got.Kind, got.Cmd, got.Reply)
	}
}
