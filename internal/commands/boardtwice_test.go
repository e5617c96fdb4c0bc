package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestTrainBoardWrittenTwiceKeepsParts: "train board accounting 1337 on
// daily to to production" was answered with "train board accounting 1337
// to production" as the command written right, without the train the user
// had named. The command written right now keeps every part written, less
// the doubled word; a second env or train, another than the first, is
// named with it, with no command offered (see TestTwoValuesNamed).
func TestTrainBoardWrittenTwiceKeepsParts(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"to to after the train", "train board accounting 1337 on daily to to production",
			`"to" is written twice; write it once: ` + suggest.Command("train board accounting 1337 on daily to production")},
		{"on on after the env", "train board accounting 1337 to production on on daily",
			`"on" is written twice; write it once: ` + suggest.Command("train board accounting 1337 to production on daily")},
		{"two envs, train after", "train board accounting 1337 to production to staging on daily",
			`two envs are named, "production" and "staging": send the train board again with the one you mean`},
		{"two trains, env between", "train board accounting 1337 on daily to production on weekly",
			`two trains are named, "daily" and "weekly": send the train board again with the one you mean`},
		{"second to left bare", "train board accounting 1337 to production to",
			`"to" is written twice; write it once: ` + suggest.Command("train board accounting 1337 to production") + `; a car goes to one env`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
}
