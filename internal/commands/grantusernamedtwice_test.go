package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestGrantUserNamedTwice: "grant @alice alice deployer" took "alice"
// for the role and "deployer" for the app, and was answered as an
// unknown app. The user named twice, once with the @ and once without,
// is said to be, with the command written right, by grant and revoke. A
// role named as the user, followed by an app, an env, a duration or
// nothing, is still the role.
func TestGrantUserNamedTwice(t *testing.T) {
	for _, tt := range []struct{ in, fixed, run string }{
		{"grant @alice alice deployer", "grant @alice deployer", "grant @alice deployer"},
		{"grant @alice alice deployer accounting production for 2h",
			"grant @alice deployer accounting production for 2h", "grant @alice deployer accounting production for 2h"},
		{"revoke @alice alice deployer accounting", "revoke @alice deployer accounting", "revoke @alice deployer accounting"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			want := `the user "alice" is named twice, as @alice and as alice; name them once: ` + suggest.Command(tt.fixed)
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, want)
			}
			checkOffersRun(t, tt.in, got.Reply, tt.run)
		})
	}
	if got := Parse("grant @alice alice production", testCat(), Options{}); strings.HasPrefix(got.Reply, "the user") {
		t.Errorf(`Parse("grant @alice alice production"): got %q, want the role "alice" read, not the user named twice`, got.Reply)
	}
	for _, tt := range []struct{ in, role, app, env string }{
		{"grant @admin admin", "admin", "", ""},
		{"grant @admin admin accounting", "admin", "accounting", ""},
		{"grant @admin admin accounting production", "admin", "accounting", "production"},
		{"grant @admin admin for 2h", "admin", "", ""},
		{"revoke @admin admin demo", "admin", "demo", ""},
	} {
		got := Parse(tt.in, testCat(), Options{})
		if got.Kind != Run || got.Cmd.User != "admin" || got.Cmd.Role != tt.role || got.Cmd.App != tt.app || got.Cmd.Env != tt.env {
			t.Errorf("Parse(%q): got %v %+v (%s), want a run of role %q on %q/%q", tt.in, got.Kind, got.Cmd, got.Reply, tt.role, tt.app, tt.env)
		}
	}
}
