package commands

import "testing"

// lockRefused is a lock command that Parse refuses with want (and the
// lock's usage after it); lockRun one that it runs as want.
type (
	lockRefused struct{ name, in, want string }
	lockRun     struct {
		name, in string
		want     Command
	}
)

// checkLockParses checks that Parse refuses each of refused and runs each
// of runs as the tables say.
func checkLockParses(t *testing.T, refused []lockRefused, runs []lockRun) {
	t.Helper()
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || got.Reply != tt.want+usageLock {
				t.Errorf("Parse(%q): got %v %+v %q, want reply %q", tt.in, got.Kind, got.Cmd, got.Reply, tt.want+usageLock)
			}
		})
	}
	for _, tt := range runs {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Run || got.Cmd != tt.want {
				t.Errorf("Parse(%q): got %v %+v %q, want run %+v", tt.in, got.Kind, got.Cmd, got.Reply, tt.want)
			}
		})
	}
}
