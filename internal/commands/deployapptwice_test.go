package commands

import (
	"strings"
	"testing"
)

// TestDeployAppWrittenTwice: "deploy accounting accounting 1337" and
// "train board accounting accounting 1337" read the second "accounting"
// as the build and were answered `unexpected word "1337"`. They now name
// the app written twice, with the command written right; a build named
// as the app, with nothing or a target after it, is still deployed.
func TestDeployAppWrittenTwice(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"deploy", "deploy accounting accounting 1337", "accounting", "deploy accounting 1337", "deploy accounting 1337 to production"},
		{"deploy, env", "deploy accounting accounting 1337 to staging", "accounting", "deploy accounting 1337 to staging", "deploy accounting 1337 to staging"},
		{"deploy, flag kept", "deploy accounting accounting 1337 --dry-run", "accounting", "deploy accounting 1337 --dry-run", "deploy accounting 1337 to production --dry-run"},
		{"deploy, quoted app", `deploy "accounting" accounting 1337`, "accounting", `deploy "accounting" 1337`, "deploy accounting 1337 to production"},
		{"train board", "train board accounting accounting 1337 on daily", "accounting", "train board accounting 1337 on daily", "train board accounting 1337 on daily"},
		{"train board, env", "train board accounting accounting 1337 to staging on weekly", "accounting", "train board accounting 1337 to staging on weekly", "train board accounting 1337 to staging on weekly"},
	})
	// A build named as the app is one where nothing but a target follows;
	// quoted, it is the build, and a build after it a second one.
	for _, tt := range []struct{ in, build string }{
		{"deploy accounting accounting", "accounting"},
		{"deploy accounting accounting to staging", "accounting"},
		{"deploy accounting 'accounting' 1337", ""},
		{"train board accounting accounting on daily", "accounting"},
	} {
		got := Parse(tt.in, testCat(), Options{})
		if tt.build == "" {
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, `two builds are named, "accounting" and "1337"`) {
				t.Errorf("Parse(%q): got %v %q, want both builds named", tt.in, got.Kind, got.Reply)
			}
			continue
		}
		if got.Kind != Run || got.Cmd.Build != tt.build {
			t.Errorf("Parse(%q): got %v build %q (%s), want a run of build %q", tt.in, got.Kind, got.Cmd.Build, got.Reply, tt.build)
		}
	}
}
