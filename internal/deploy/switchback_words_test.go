package deploy

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestCouldNotSwitchBack: the line that asks for a look at the hosts a
// deploy could not switch back agrees in number with them, and marks the
// rollback it offers, as the bot's other offers of a command are.
func TestCouldNotSwitchBack(t *testing.T) {
	for _, tt := range []struct {
		name  string
		hosts []string
		want  string
	}{
		{"one host", []string{"web-2"}, "could NOT switch back web-2 — check it and " + suggest.Command("/rollback")},
		{"two hosts", []string{"web-1", "web-2"}, "could NOT switch back web-1, web-2 — check them and " + suggest.Command("/rollback")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := couldNotSwitchBack(tt.hosts); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
