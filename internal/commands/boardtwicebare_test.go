package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestTrainBoardWrittenTwiceNoName: "train board accounting 1337 to to"
// was answered unknown env "to", and "train board accounting 1337 to to on
// daily" offered "train board accounting 1337 to on daily" as the command
// written right, which lacks the env. A "to" or "on" written twice with
// no name after it is now named as written twice, with the name to write
// in its place, as deploy names it. The command written right is marked
// as one the bot suggests, as train leave's is, so that a renderer writes
// it as a command.
func TestTrainBoardWrittenTwiceNoName(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"to to at the end", "train board accounting 1337 to to",
			`"to" is written twice; write it once: ` + suggest.Command("train board accounting 1337 to ENV")},
		{"on on at the end", "train board accounting 1337 on on",
			`"on" is written twice; write it once: ` + suggest.Command("train board accounting 1337 on TRAIN")},
		{"to to, then the train", "train board accounting 1337 to to on daily",
			`"to" is written twice; write it once: ` + suggest.Command("train board accounting 1337 to ENV on daily")},
		{"on on, then the env", "train board accounting 1337 on on to production",
			`"on" is written twice; write it once: ` + suggest.Command("train board accounting 1337 on TRAIN to production")},
		{"train, then to to", "train board accounting 1337 on daily to to",
			`"to" is written twice; write it once: ` + suggest.Command("train board accounting 1337 on daily to ENV")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
}
