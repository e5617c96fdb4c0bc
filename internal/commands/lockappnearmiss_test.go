package commands

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestLockAppNearMissOffered: "lock deploys acounting db work" was
// refused with "did you mean "accounting"?" and no command to send: the
// lock of the app meant is now offered, written as it runs.
func TestLockAppNearMissOffered(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"near miss", "lock deploys acounting db work",
			`unknown app "acounting"; did you mean ` + suggest.Command("lock deploys accounting db work") + `? known apps: accounting, demo; to lock every app, quote the reason: lock deploys "…"`},
		{"three letters", "lock deploys dmo for 1h db work",
			`unknown app "dmo"; did you mean ` + suggest.Command("lock deploys demo for 1h db work") + `? known apps: accounting, demo; to lock every app, quote the reason: lock deploys "…"`},
		{"no reason, none offered", "lock deploys acounting",
			`unknown app "acounting"; did you mean "accounting"? known apps: accounting, demo; to lock every app, quote the reason: lock deploys "…"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || got.Reply != tt.want+usageLock {
				t.Errorf("Parse(%q): got %v %q, want reply %q", tt.in, got.Kind, got.Reply, tt.want+usageLock)
			}
		})
	}
}
