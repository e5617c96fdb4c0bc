package commands

import (
	"strings"
	"testing"
)

// TestFlagBareThenValued: "deploy accounting 1337 --force --dry-run
// --force hotfix" was answered "--force needs a reason", though the
// reason is given: only a --force written twice in a row was taken for
// the flag written twice. A value flag left without its value and
// written again later with one is named written twice now, with the
// command holding the writing with the value.
func TestFlagBareThenValued(t *testing.T) {
	checkTwice(t, []twiceCase{
		{"another flag between", "deploy accounting 1337 --force --dry-run --force hotfix", "--force",
			"deploy accounting 1337 --dry-run --force hotfix", `deploy accounting 1337 to production --dry-run --force "hotfix"`},
		{"quoted reason", `deploy accounting 1337 --force --dry-run --force "db migration"`, "--force",
			`deploy accounting 1337 --dry-run --force "db migration"`, `deploy accounting 1337 to production --dry-run --force "db migration"`},
		{"reason after =", "deploy accounting 1337 --force --dry-run --force=hotfix", "--force",
			"deploy accounting 1337 --dry-run --force=hotfix", `deploy accounting 1337 to production --dry-run --force "hotfix"`},
	})
	// With no reason in any writing, the reason is still asked for.
	for _, in := range []string{
		"deploy accounting 1337 --force --dry-run --force",
		"deploy accounting 1337 --force --dry-run --force=",
	} {
		got := Parse(in, testCat(), Options{})
		if want := "--force needs a reason"; got.Kind != Reply || !strings.Contains(got.Reply, want) {
			t.Errorf("Parse(%q): got %v %q, want a reply holding %q", in, got.Kind, got.Reply, want)
		}
	}
}
