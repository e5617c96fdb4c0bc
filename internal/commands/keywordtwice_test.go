package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestKeywordWrittenTwice: "deploy accounting 1337 to to production" was
// answered `unknown env "to" for accounting`, and "rollback accounting to
// to 12" took "to" for the build and called the 12 a stray word. A "to",
// "from" or "on" written twice, in a row or with a name between, is now
// named as written twice, with the command written right.
func TestKeywordWrittenTwice(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"deploy to to", "deploy accounting 1337 to to production",
			`"to" is written twice; write it once: deploy accounting 1337 to production`},
		{"deploy to to, no env", "deploy accounting 1337 to to",
			`"to" is written twice; write it once: deploy accounting 1337 to ENV; known envs of accounting: production, staging`},
		{"deploy to two envs", "deploy accounting 1337 to production to staging",
			`two envs are named, "production" and "staging": send the deploy again with the one you mean`},
		{"rollback to to", "rollback accounting to to 12",
			`"to" is written twice; write it once: rollback accounting to 12`},
		{"rollback env to to", "rollback accounting production to to 12",
			`"to" is written twice; write it once: rollback accounting production to 12`},
		{"rollback to two builds", "rollback accounting to 12 to 13",
			`two builds are named, "12" and "13": send the rollback again with the one you mean`},
		{"rollback from from", "rollback accounting from from 13",
			`"from" is written twice; write it once: rollback accounting from 13`},
		{"rollback to, from from", "rollback accounting production to 11 from from 12",
			`"from" is written twice; write it once: rollback accounting production to 11 from 12`},
		{"rollback from two builds", "rollback accounting from 12 from 13",
			`two builds are named, "12" and "13": send the rollback again with the one you mean`},
		{"train board on on", "train board accounting 1337 on on daily",
			`"on" is written twice; write it once: train board accounting 1337 on daily`},
		{"train board to to", "train board accounting 1337 to to production",
			`"to" is written twice; write it once: train board accounting 1337 to production`},
		{"train board two trains", "train board accounting 1337 on daily on weekly",
			`two trains are named, "daily" and "weekly": send the train board again with the one you mean`},
		{"train board two envs", "train board accounting 1337 to production to staging on daily",
			`two envs are named, "production" and "staging": send the train board again with the one you mean`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			checkNoPlaceholderMarked(t, tt.in, got.Reply)
			got.Reply = suggest.Strip(got.Reply) // the text people read
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
	// A build named "to" is still one.
	if got := Parse("rollback accounting to to", testCat(), Options{}); got.Kind != Run || got.Cmd.Build != "to" {
		t.Errorf(`Parse("rollback accounting to to"): got %v build %q (%s), want a run to build "to"`, got.Kind, got.Cmd.Build, got.Reply)
	}
}
