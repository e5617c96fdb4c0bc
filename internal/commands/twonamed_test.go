package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestTwoValuesNamed: "deploy accounting 1337 staging to production" was
// answered with "deploy accounting 1337 to staging" to send, and "deploy
// accounting 1337 to staging to production" too: a guess at which of two
// envs was meant, offered as a command to run. Two different values for
// one slot (two envs, two builds, two trains) are named now, both, with
// no command offered; the same value twice is still written twice, with
// the command holding it once.
func TestTwoValuesNamed(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"env without to, then another", "deploy accounting 1337 staging to production",
			`two envs are named, "staging" and "production": send the deploy again with the one you mean`},
		{"to twice, two envs", "deploy accounting 1337 to staging to production",
			`two envs are named, "staging" and "production": send the deploy again with the one you mean`},
		{"two envs, one after the other", "deploy accounting 1337 to staging production",
			`two envs are named, "staging" and "production": send the deploy again with the one you mean`},
		{"two envs, flag kept out", "deploy accounting 1337 to production to staging --dry-run",
			`two envs are named, "production" and "staging": send the deploy again with the one you mean`},
		{"rollback to two builds", "rollback accounting to 12 to 13",
			`two builds are named, "12" and "13": send the rollback again with the one you mean`},
		{"rollback from two builds", "rollback accounting from 12 from 13",
			`two builds are named, "12" and "13": send the rollback again with the one you mean`},
		{"train board two trains", "train board accounting 1337 on daily on weekly",
			`two trains are named, "daily" and "weekly": send the train board again with the one you mean`},
		{"train board two envs", "train board accounting 1337 to production to staging on daily",
			`two envs are named, "production" and "staging": send the train board again with the one you mean`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want+"\n") {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkOffersRun(t, tt.in, got.Reply, "")
		})
	}
	// The same value again is a slip with one meaning.
	for _, tt := range []struct{ name, in, want, run string }{
		{"same env twice", "deploy accounting 1337 to staging to staging",
			`"to" is written twice; write it once: ` + suggest.Command("deploy accounting 1337 to staging"), "deploy accounting 1337 to staging"},
		{"same build twice", "rollback accounting to 12 to 12",
			`"to" is written twice; write it once: ` + suggest.Command("rollback accounting to 12"), "rollback accounting production to 12"},
		{"same train twice", "train board accounting 1337 on daily on daily",
			`"on" is written twice; write it once: ` + suggest.Command("train board accounting 1337 on daily"), "train board accounting 1337 on daily"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkOffersRun(t, tt.in, got.Reply, tt.run)
		})
	}
}
