package commands

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestHistoryNFirstStrayWord: `history 5 extra` was refused as
// `unknown app "5"`, naming the N as an app. `history 5` is whole, so the
// word after it is the stray one, as `audit 5 extra` and
// `history accounting production 5 extra` say.
func TestHistoryNFirstStrayWord(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"stray word", "history 5 extra", `unexpected word "extra"`},
		{"two stray words", "history 5 extra more", `unexpected word "extra"`},
		{"stray quoted", `history 5 "x y"`, `unexpected word "x y"`},
		{"N before the app", "history 20 accounting", "N goes last: " + suggest.Command("history accounting 20")},
		{"N before app and env", "history 20 accounting production", "N goes last: " + suggest.Command("history accounting production 20")},
		{"N last, stray word", "history accounting production 5 extra", `unexpected word "extra"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || !strings.Contains(got.Reply, tt.want) || strings.Contains(got.Reply, "unknown app") {
				t.Errorf("Parse(%q): got %v %q, want a reply containing %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
}
