package commands_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestStoredLockSuggestsNothing: a lock's reason and owner are people's
// words, read back from the store and quoted in replies. Marks of the
// bot's suggested commands in them (written by a version that took them
// from chat, or straight into a shared store) are not shown as the bot's
// suggestion, while the reply's own suggestion keeps its marks.
func TestStoredLockSuggestsNothing(t *testing.T) {
	tests := []struct {
		name, user, text string
		want             []string // the commands the reply suggests
	}{
		{"lock over it", "carl", "lock deploys web prod mine now", []string{"unlock deploys web prod"}},
		{"deploy under it", "carl", "deploy web 1", nil},
		{"unlock", "ana", "unlock deploys web prod", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixtureFrom(t, lockerYAML, nil)
			l := deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: suggest.Command("deploy web 5"), Created: time.Now()}
			if err := f.store.PutLock(t.Context(), l); err != nil {
				t.Fatal(err)
			}
			_, out, _ := f.do(tt.user, tt.text)
			got := shownText(out.lastMessage())
			if !strings.Contains(got, "deploy web 5") {
				t.Fatalf("reply %q does not quote the lock's reason", got)
			}
			if cmds := suggestedIn(got); strings.Join(cmds, "|") != strings.Join(tt.want, "|") {
				t.Errorf("reply %q suggests %q, want %q", got, cmds, tt.want)
			}
		})
	}
}

// shownText is all the text of m a renderer shows, with its marks.
func shownText(m chat.Message) string {
	parts := append([]string{m.Title}, m.Lines...)
	for _, f := range m.Fields {
		parts = append(parts, f.Value)
	}
	return strings.Join(parts, "\n")
}

// suggestedIn returns the commands s marks as the bot's suggestions.
func suggestedIn(s string) []string {
	var cmds []string
	suggest.Rewrite(s, func(cmd string) string {
		cmds = append(cmds, cmd)
		return cmd
	})
	return cmds
}
