package embedded_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenDirectoryNotSearchable: a store behind a directory the bot's
// user may not search (0700, another user's) stops the bot, and bot
// audit, with that directory, its owner and mode and what to do, not
// "open state store: stat FILE: permission denied", which names the file
// and leaves the operator to find which directory on its way refused;
// Check says the same. So does a store not made yet behind it, and one
// named through a symlink leading there.
func TestOpenDirectoryNotSearchable(t *testing.T) {
	root, bin := nobodyDir(t)
	locked := filepath.Join(root, "locked")
	state := filepath.Join(locked, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(state, "switchman.db")
	if err := openStore(t, store, nil).Close(); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "switchman.db")
	if err := os.Symlink(store, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
	}{
		{"store", store},
		{"store not made yet", filepath.Join(state, "new.db")},
		{"symlink to the store", link},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := openElsewhere(t, tc.path, bin, asNobody...)
			const msg = "state store %s cannot be reached by this user, nobody (uid 65534)%s: it may not search the directory %s on its way (owned by root (uid 0), mode 0700): %s root, let this user search it, or set store.path to a file this user may reach"
			for _, c := range []struct{ prefix, want string }{
				{"open: ", fmt.Sprintf(msg, tc.path, ", which the bot runs as", locked, "run the bot as")},
				{"open read-only: ", fmt.Sprintf(msg, tc.path, "", locked, "run it as")},
				{"check: ", fmt.Sprintf(msg, tc.path, "", locked, "run it as")},
			} {
				if got := line(lines, c.prefix); !strings.HasPrefix(got, c.want) {
					t.Errorf("%s got %q, want %q", c.prefix, got, c.want)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(state, "new.db")); err == nil {
		t.Errorf("%s: created, want nothing created", filepath.Join(state, "new.db"))
	}
}
