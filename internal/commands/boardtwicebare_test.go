package commands

import (
	"strings"
	"testing"
)

// TestTrainBoardWrittenTwiceNoName: "train board accounting 1337 to to"
// was answered unknown env "to", and "train board accounting 1337 to to on
// daily" offered "train board accounting 1337 to on daily" as the command
// written right, which lacks the env. A "to" or "on" written twice with
// no name after it is now named as written twice, with the name to write
// in its place, as deploy names it. That form, with ENV or TRAIN to fill
// in, is no command to send, and is not marked as one (it was: Discord
// offered it as a slash command, refused as an unknown env "ENV"); the
// names to fill in follow it.
func TestTrainBoardWrittenTwiceNoName(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"to to at the end", "train board accounting 1337 to to",
			`"to" is written twice; write it once: train board accounting 1337 to ENV; known envs of accounting: production, staging`},
		{"on on at the end", "train board accounting 1337 on on",
			`"on" is written twice; write it once: train board accounting 1337 on TRAIN; trains: daily, weekly`},
		{"to to, then the train", "train board accounting 1337 to to on daily",
			`"to" is written twice; write it once: train board accounting 1337 to ENV on daily; known envs of accounting: production, staging`},
		{"on on, then the env", "train board accounting 1337 on on to production",
			`"on" is written twice; write it once: train board accounting 1337 on TRAIN to production; trains: daily, weekly`},
		{"train, then to to", "train board accounting 1337 on daily to to",
			`"to" is written twice; write it once: train board accounting 1337 on daily to ENV; known envs of accounting: production, staging`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, tt.want) {
				t.Errorf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, tt.want)
			}
			checkNoPlaceholderMarked(t, tt.in, got.Reply)
		})
	}
}
