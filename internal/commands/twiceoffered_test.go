package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// twiceCase is a command with a word written twice: in is answered
// `"word" is written twice; write it once: fixed`, fixed marked as the
// bot's suggestion, and fixed, sent, runs the command whose Text is run.
type twiceCase struct{ name, in, word, fixed, run string }

// checkTwice checks each case in a subtest of its name, with testCat.
func checkTwice(t *testing.T, cases []twiceCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			want := `"` + tt.word + `" is written twice; write it once: ` + suggest.Command(tt.fixed)
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.HasPrefix(got.Reply, want) {
				t.Fatalf("Parse(%q): got %v %q, want a reply starting %q", tt.in, got.Kind, got.Reply, want)
			}
			if back := Parse(tt.fixed, testCat(), Options{}); back.Kind != Run || back.Cmd.Text != tt.run {
				t.Errorf("Parse(%q), offered: got %v %q (%s), want a run of %q", tt.fixed, back.Kind, back.Cmd.Text, back.Reply, tt.run)
			}
		})
	}
}

// checkNoPlaceholderMarked checks that no command marked in reply, the
// reply to in, holds a placeholder such as ENV, TRAIN or N: a word of
// capitals alone, which the user was to replace.
func checkNoPlaceholderMarked(t *testing.T, in, reply string) {
	t.Helper()
	suggest.Rewrite(reply, func(cmd string) string {
		for _, w := range strings.Fields(cmd) {
			if strings.Trim(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
				t.Errorf("Parse(%q): the command %q marked in %q holds the placeholder %q", in, cmd, reply, w)
			}
		}
		return cmd
	})
}
