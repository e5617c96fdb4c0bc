package commands

import (
	"strings"
	"testing"
)

// TestTwoAppsNamed: "cancel accounting demo" was answered as an unknown
// env "demo" of accounting, though demo is an app the user named. Every
// command that takes one app, then its env, names both apps now, with no
// command offered: no reply can pick the one meant.
func TestTwoAppsNamed(t *testing.T) {
	const want = `two apps are named, "accounting" and "demo": send the %s again with the one you mean`
	for _, tt := range []struct{ in, name string }{
		{"cancel accounting demo", "cancel"},
		{"unlock deploys accounting demo", "unlock"},
		{"stats accounting demo", "stats"},
		{"stats accounting demo 7d", "stats"},
		{"grant @ana deployer accounting demo", "grant"},
		{"grant @ana deployer accounting demo for 2h", "grant"},
		{"revoke @ana deployer accounting demo", "revoke"},
		{"rollback accounting demo", "rollback"},
		{"rollback accounting demo to 12", "rollback"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			want := strings.Replace(want, "%s", tt.name, 1)
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, want)
			}
			checkOffersRun(t, tt.in, got.Reply, "")
		})
	}
	// A word that is no app is still an unknown env, and an app's own env
	// named as another app is still its env.
	cat := testCat()
	cat.envs["accounting"] = append(cat.envs["accounting"], "demo")
	for _, tt := range []struct {
		in   string
		cat  testCatalog
		want string
	}{
		{"cancel accounting nope", testCat(), `unknown env "nope" for accounting`},
		{`cancel accounting "demo"`, testCat(), `unknown env "demo" for accounting`},
	} {
		got := Parse(tt.in, tt.cat, Options{})
		if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
			t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
		}
	}
	if got := Parse("cancel accounting demo", cat, Options{}); got.Kind != Run || got.Cmd.Env != "demo" {
		t.Errorf(`Parse("cancel accounting demo") with demo an env of accounting: got %v %q (%s), want a run on env "demo"`, got.Kind, got.Cmd.Text, got.Reply)
	}
}
