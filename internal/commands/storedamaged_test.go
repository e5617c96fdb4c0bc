package commands_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/testenv/damagedstore"
)

// TestStoreDamaged: the embedded store's file was damaged while the bot
// ran (a disk error), and the store found it. A command is refused, and
// the audit log cannot take its entry, saying so with the store's advice
// (restore the file), not that a local file is unreachable.
func TestStoreDamaged(t *testing.T) {
	type reply struct{ start, end string } // %[1]s the file, %[2]s what to do
	for _, tt := range []struct {
		name, text string
		want       []reply
	}{
		{"status", "status web", []reply{
			{"state store %[1]s is damaged: ", "%[2]s; nothing was changed"},
			{"The audit log cannot be written: state store %[1]s is damaged: ", "%[2]s"},
		}},
		{"lock", "lock deploys web prod x", []reply{
			{"Not run: the audit log cannot be written, so nothing was changed: state store %[1]s is damaged: ", "%[2]s"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			path := filepath.Join(t.TempDir(), "state.db")
			f.useStore(damagedstore.Open(t, path))

			res, out, _ := f.do("bob", tt.text)
			if !res.Failed {
				t.Errorf("%s on a damaged store: got %+v, want it failed", tt.name, res)
			}
			var got []string
			out.mu.Lock()
			for _, m := range out.replies {
				got = append(got, strings.Join(append([]string{m.Title}, m.Lines...), ": "))
			}
			out.mu.Unlock()
			advice := fmt.Sprintf("stop the bot, then restore it from a backup, or move it aside (mv %s %s.damaged) to start a new, empty store, without its locks, grants and deploy history", path, path)
			if len(got) != len(tt.want) {
				t.Fatalf("replies: got %q, want %d saying the store is damaged", got, len(tt.want))
			}
			for i, w := range tt.want {
				start, end := fmt.Sprintf(w.start, path, advice), fmt.Sprintf(w.end, path, advice)
				if !strings.HasPrefix(got[i], start) || !strings.HasSuffix(got[i], end) {
					t.Errorf("reply %d: got %q, want %q…%q", i, got[i], start, end)
				}
			}
		})
	}
}
