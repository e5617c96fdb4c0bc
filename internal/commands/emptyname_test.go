package commands

import (
	"strings"
	"testing"
)

// TestEmptyQuotedName: `status ""` answered `unknown app ""`, as if a name
// had been looked up and not found, where lock says of the same word that
// it stands where the app goes. An app, env or build left blank, or an
// empty quoted word where no word goes, is now named as such.
func TestEmptyQuotedName(t *testing.T) {
	const (
		app   = "an empty quoted word stands where the app goes: name the app; known apps: accounting, demo"
		env   = "an empty quoted word stands where the env goes: name the env; known envs of accounting: production, staging"
		build = "an empty quoted word stands where the build goes: name the build, e.g. 1337"
	)
	for _, tt := range []struct {
		name, in, want string
	}{
		{"status", `status ""`, app},
		{"deploy", `deploy "" 1337`, app},
		{"deploy, single quotes", `deploy '' 1337`, app},
		{"stats", `stats ""`, app},
		{"history", `history ""`, app},
		{"rollback", `rollback ""`, app},
		{"audit", `audit ""`, app},
		{"unlock", `unlock deploys ""`, app},
		{"grant", `grant @ana deployer ""`, app},
		{"train board", `train board "" 1337`, app},
		{"deploy env", `deploy accounting 1337 to ""`, env},
		{"rollback env", `rollback accounting ""`, env},
		{"history env", `history accounting ""`, env},
		{"stats env", `stats accounting ""`, env},
		{"unlock env", `unlock deploys accounting ""`, env},
		{"grant env", `grant @ana deployer accounting ""`, env},
		{"deploy build", `deploy accounting "" to production`, build},
		{"rollback to", `rollback accounting to ""`, build},
		{"rollback from", `rollback accounting from ""`, build},
		{"train board build", `train board accounting ""`, build},
		{"no word goes there", `status accounting ""`, "an empty quoted word stands where no word goes: leave it out"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
}
