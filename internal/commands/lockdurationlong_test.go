package commands

import "testing"

// TestLockDurationTooLongOneBracket: a lock's duration too long was
// answered with two brackets in a row, "(omit "for" to lock until
// unlock) (to start the reason with "for", quote it)", two afterthoughts
// where one sentence says both.
func TestLockDurationTooLongOneBracket(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"first", "lock deploys for 91d db",
			`duration "91d" is too long; the limit is 90d (omit "for" to lock until unlock, or, to start the reason with "for", quote it)` + usageLock},
		{"first, after the app", "lock deploys accounting for 999999w db",
			`duration "999999w" is too long; the limit is 90d (omit "for" to lock until unlock, or, to start the reason with "for", quote it)` + usageLock},
		{"last", "lock deploys accounting production db migration for 91d",
			`duration "91d" is too long; the limit is 90d (omit "for" to lock until unlock, or, to end the reason with "for", quote it)` + usageLock},
		{"zero, first", "lock deploys for 0h db",
			`duration "0h" is zero; omit "for" to lock until unlock, or give e.g. 2h (to start the reason with "for", quote it)` + usageLock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.in, testCat(), Options{})
			if got.Kind != Reply || got.Reply != tt.want {
				t.Errorf("Parse(%q): got %v %q, want reply %q", tt.in, got.Kind, got.Reply, tt.want)
			}
		})
	}
}
