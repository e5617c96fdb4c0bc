package deploy

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestCouldNotSwitchBack: the line that asks for a look at the hosts a
// deploy could not switch back agrees in number with them, and offers
// the rollback that finishes their switch back: marked, written as typed,
// to the release they were going back to; with several, which one to
// keep is left to fill in, and the command is prose. It was marked with
// a leading slash, and without the app, env or release.
func TestCouldNotSwitchBack(t *testing.T) {
	for _, tt := range []struct {
		name      string
		hosts, to []string
		want      string
	}{
		{"one host", []string{"web-2"}, []string{"1"}, "could NOT switch back web-2 — check it and " + suggest.Command("rollback web prod to 1")},
		{"two hosts", []string{"web-1", "web-2"}, []string{"1"}, "could NOT switch back web-1, web-2 — check them and " + suggest.Command("rollback web prod to 1")},
		{"two releases", []string{"web-1", "web-2"}, []string{"0", "1"}, "could NOT switch back web-1, web-2 — check them and roll back to one release: rollback web prod to BUILD (they were going back to 0, 1)"},
		{"no release known", []string{"web-1"}, nil, "could NOT switch back web-1 — check it and roll back to one release: rollback web prod to BUILD"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := couldNotSwitchBackText("web", "prod", tt.hosts, tt.to); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
