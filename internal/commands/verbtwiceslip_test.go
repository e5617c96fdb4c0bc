package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestVerbTwiceWithSlip: "deploy deploy accounting 1337 1337" was
// answered `"1337" is written twice; write it once: deploy accounting
// 1337`, the verb written twice left unnamed beside the other slip: the
// command written once was checked, and its refusal answered instead.
// The verb, or train's action, written twice is a slip as any other now:
// the reply names it and then what else is wrong, and offers only a
// command that fixes every slip.
func TestVerbTwiceWithSlip(t *testing.T) {
	for _, tt := range []struct{ name, in, want, run string }{
		{"build twice", "deploy deploy accounting 1337 1337",
			`"deploy" is written twice; write it once, and "1337" is written twice; write it once: ` + suggest.Command("deploy accounting 1337"),
			"deploy accounting 1337 to production"},
		{"build twice, env without to", "deploy deploy accounting 1337 1337 staging",
			`"deploy" is written twice; write it once, and "1337" is written twice; write it once, and unexpected word "staging"; write "to" before the env: ` + suggest.Command("deploy accounting 1337 to staging"),
			"deploy accounting 1337 to staging"},
		{"verb three times, build twice", "deploy deploy deploy accounting 1337 1337",
			`"deploy" is written twice; write it once, and "1337" is written twice; write it once: ` + suggest.Command("deploy accounting 1337"),
			"deploy accounting 1337 to production"},
		{"app twice", "status status accounting accounting",
			`"status" is written twice; write it once, and "accounting" is written twice; write it once: ` + suggest.Command("status accounting"),
			"status accounting"},
		{"action twice, train without on", "train board board accounting 1337 daily",
			`"board" is written twice; write it once, and unexpected word "daily"; write "on" before the train: ` + suggest.Command("train board accounting 1337 on daily"),
			"train board accounting 1337 on daily"},
		{"train twice, train twice", "train train depart daily daily now",
			`"train" is written twice; write it once, and "daily" is written twice; write it once: ` + suggest.Command("train depart daily now"),
			"train depart daily now"},
		{"env misspelt", "deploy deploy accounting 1337 to prodution",
			`"deploy" is written twice; write it once, and unknown env "prodution" for accounting; did you mean "production"?`, ""},
		{"force without reason", "deploy deploy accounting 1337 --force",
			`"deploy" is written twice; write it once, and --force needs a reason, e.g. --force "INC-42 hotfix"`, ""},
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
