package commands

import (
	"strings"
	"testing"
)

// TestTwoValuesNamedEverywhere: two builds, two envs or two trains were
// named both by deploy's envs and rollback's "to 12 to 13" only; the
// other commands, and the other ways of writing them, answered the
// second as an unexpected word ("cancel accounting production staging",
// "train leave accounting on daily weekly"), or offered a guess
// ("rollback accounting production staging" offered a rollback to a
// build "staging"). Every command that takes a build, an env or a train
// names both now, with no command offered.
func TestTwoValuesNamedEverywhere(t *testing.T) {
	builds := `two builds are named, "1337" and "1338": send the %s again with the one you mean`
	envs := `two envs are named, "production" and "staging": send the %s again with the one you mean`
	trains := `two trains are named, "daily" and "weekly": send the %s again with the one you mean`
	for _, tt := range []struct{ in, want, name string }{
		{"deploy accounting 1337 1338", builds, "deploy"},
		{"deploy accounting 1337 production staging", envs, "deploy"},
		{"deploy accounting 1337 1338 to staging", builds, "deploy"},
		{"deploy accounting 1337 to staging 1338", builds, "deploy"},
		{"rollback accounting production staging", envs, "rollback"},
		{"rollback accounting production staging to 12", envs, "rollback"},
		{"rollback accounting to 1337 1338", builds, "rollback"},
		{"rollback accounting from 1337 1338", builds, "rollback"},
		{"rollback accounting to 12 from 1337 1338", builds, "rollback"},
		{"train board accounting 1337 1338 on daily", builds, "train board"},
		{"train board accounting 1337 to production staging on daily", envs, "train board"},
		{"train board accounting 1337 production staging on daily", envs, "train board"},
		{"train board accounting 1337 production to staging on daily", envs, "train board"},
		{"train board accounting 1337 on daily weekly", trains, "train board"},
		{"train board accounting 1337 daily weekly", trains, "train board"},
		{"train board accounting 1337 daily on weekly", trains, "train board"},
		{"train leave accounting on daily weekly", trains, "train leave"},
		{"train leave accounting daily weekly", trains, "train leave"},
		{"train leave accounting daily on weekly", trains, "train leave"},
		{"train depart daily now weekly", trains, "train depart"},
		{"unlock deploys accounting production staging", envs, "unlock"},
		{"cancel accounting production staging", envs, "cancel"},
		{"stats accounting production staging", envs, "stats"},
		{"stats accounting production staging 7d", envs, "stats"},
		{"grant @ana deployer accounting production staging", envs, "grant"},
		{"grant @ana deployer accounting production staging for 2h", envs, "grant"},
		{"revoke @ana deployer accounting production staging", envs, "revoke"},
		{"history accounting production staging", envs, "history"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			want := strings.Replace(tt.want, "%s", tt.name, 1)
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, want)
			}
			checkOffersRun(t, tt.in, got.Reply, "")
		})
	}
	// A word that names no build, env or train is still an unexpected
	// word, and a build without its "to" is still offered with it.
	for _, tt := range []struct{ in, want string }{
		{"deploy accounting 1337 please", `unexpected word "please"`},
		{"cancel accounting production please", `unexpected word "please"`},
		{"rollback accounting production 1336", `unexpected word "1336"; to roll back to a build, write "to": `},
	} {
		got := Parse(tt.in, testCat(), Options{})
		if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
			t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
		}
	}
}
