package commands

import (
	"fmt"
	"strings"
	"testing"
)

// TestDeployAppWhereEnvGoes: "deploy accounting 1 to demo", demo being an
// app and no env of accounting, was answered as an unknown env "demo" of
// accounting. It now says that demo is an app, names both apps and lists
// accounting's envs, with no command offered: no reply can pick the app
// meant. So does a train board, and the env written without its "to".
// "deploy demo 1 to demo", the app's own name there, was answered as an
// unknown env "demo" of demo; it now says the app is named twice.
func TestDeployAppWhereEnvGoes(t *testing.T) {
	const envs = "; known envs of accounting: production, staging"
	for _, tt := range []struct{ in, want string }{
		{"deploy accounting 1 to demo",
			`"demo" is an app, not an env of accounting, so two apps are named, "accounting" and "demo": send the deploy again with the one you mean` + envs},
		{"deploy accounting 1 to demo --dry-run",
			`"demo" is an app, not an env of accounting, so two apps are named, "accounting" and "demo": send the deploy again with the one you mean` + envs},
		{"deploy accounting 1 demo",
			`"demo" is an app, not an env of accounting, so two apps are named, "accounting" and "demo": send the deploy again with the one you mean` + envs},
		{"train board accounting 1 to demo",
			`"demo" is an app, not an env of accounting, so two apps are named, "accounting" and "demo": send the train board again with the one you mean` + envs},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkOffersRun(t, tt.in, got.Reply, "")
		})
	}
	// The app's own name where the env goes is the app named twice, with
	// its envs listed and no command offered.
	const twice = `"demo" is the app, not an env of demo, so the app is named twice: send the %s again with the env you mean; known envs of demo: production, staging`
	for _, tt := range []struct{ in, name string }{
		{"deploy demo 1 to demo", "deploy"},
		{"deploy demo 1 to demo --dry-run", "deploy"},
		{"deploy demo 1 demo", "deploy"},
		{"train board demo 1 to demo", "train board"},
		{"train board demo 1 to demo on daily", "train board"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			want := fmt.Sprintf(twice, tt.name)
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, want)
			}
			checkOffersRun(t, tt.in, got.Reply, "")
		})
	}
	// A word that is no app is still an unknown env; quoted, an app's
	// name is looked up as an env; an app's own env named as another app
	// is its env.
	for _, tt := range []struct{ in, want string }{
		{"deploy accounting 1 to nope", `unknown env "nope" for accounting`},
		{`deploy accounting 1 to "demo"`, `unknown env "demo" for accounting`},
		{`deploy demo 1 to "demo"`, `unknown env "demo" for demo`},
	} {
		if got := Parse(tt.in, testCat(), Options{}); got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
			t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
		}
	}
	cat := testCat()
	cat.envs["accounting"] = append(cat.envs["accounting"], "demo")
	cat.envs["demo"] = append(cat.envs["demo"], "demo")
	for _, in := range []string{"deploy accounting 1 to demo", "train board accounting 1 to demo on daily", "deploy demo 1 to demo", "train board demo 1 to demo on daily"} {
		if got := Parse(in, cat, Options{}); got.Kind != Run || got.Cmd.Env != "demo" {
			t.Errorf("Parse(%q) with demo an env of its app: got %v %q (%s), want a run on env \"demo\"", in, got.Kind, got.Cmd.Text, got.Reply)
		}
	}
}
