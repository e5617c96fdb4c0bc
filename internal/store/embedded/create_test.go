package embedded_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// nobodyDir returns a directory (0755, root's) holding a copy of the test
// binary that nobody may run, and that binary's path: a process run as
// nobody from there opens stores under it (see openElsewhere).
func nobodyDir(t *testing.T) (dir, bin string) {
	t.Helper()
	need(t, "setpriv")
	dir, err := os.MkdirTemp("", "switchman-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "embedded.test")
	copyFile(t, mustExecutable(t), bin, 0o755)
	return dir, bin
}

// asNobody is what openElsewhere runs the test binary through to open a
// store as nobody.
var asNobody = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}

// names returns the names in dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// TestOpenCannotCreate: a store that does not exist yet, in a directory
// the bot cannot write (on a file system mounted read-only, or another
// user's), or behind a file where a directory on its way should be,
// stops the bot with the directory, why it cannot be written there and
// which key to change, not "create state store FILE: open
// DIR/.switchman.db.new-123: permission denied" about a temporary file;
// nothing is created. The directory the store's own would be made in
// counts the same when that one is missing too. Check, which bot
// check-config runs, says the same, in the same words, as an error
// wrapping ErrNotCreatable (check-config warns of it): it found nothing
// wrong with a store it could not create, and check-config warned of one
// in words of its own. Of this user, Open says it is the one the bot runs
// as, and Check that it is the one running check-config, which may be
// another than the bot's.
func TestOpenCannotCreate(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup returns the directory the bot may not write, the
		// store's path, and how to run the test binary to open it.
		setup func(t *testing.T) (dir, path string, run []string)
		want  string // %[1]s the store's path, %[2]s the directory, %[3]s who this user is
	}{
		{"read-only file system", func(t *testing.T) (string, string, []string) {
			need(t, "unshare")
			dir := t.TempDir()
			script := `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2"`
			return dir, filepath.Join(dir, "switchman.db"), []string{"unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", dir, mustExecutable(t)}
		}, "state store %[1]s cannot be created: the directory %[2]s is on a file system mounted read-only: remount it read-write, or set store.path to a file on a writable one"},
		{"another user's directory", func(t *testing.T) (string, string, []string) {
			root, bin := nobodyDir(t)
			dir := filepath.Join(root, "state")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return dir, filepath.Join(dir, "switchman.db"), append(slices.Clone(asNobody), bin)
		}, "state store %[1]s cannot be created: this user, nobody (uid 65534)%[3]s, may not write the directory %[2]s (owned by root (uid 0), mode 0755): run the bot as root, or set store.path to a file in a directory this user may write"},
		{"missing directory in another user's", func(t *testing.T) (string, string, []string) {
			root, bin := nobodyDir(t)
			dir := filepath.Join(root, "state")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return dir, filepath.Join(dir, "switchman", "switchman.db"), append(slices.Clone(asNobody), bin)
		}, "state store %[1]s cannot be created: this user, nobody (uid 65534)%[3]s, may not write the directory %[2]s (owned by root (uid 0), mode 0755): run the bot as root, or set store.path to a file in a directory this user may write"},
		{"a file where its directory should be", func(t *testing.T) (string, string, []string) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "blocker"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			return dir, filepath.Join(dir, "blocker", "switchman.db"), []string{mustExecutable(t)}
		}, "state store %[1]s cannot be created: %[2]s/blocker, on its way, is a file, not a directory: set store.path to a file in a directory"},
		{"a file where a directory further up should be", func(t *testing.T) (string, string, []string) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "blocker"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			return dir, filepath.Join(dir, "blocker", "var", "switchman.db"), []string{mustExecutable(t)}
		}, "state store %[1]s cannot be created: %[2]s/blocker, on its way, is a file, not a directory: set store.path to a file in a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path, run := tc.setup(t)
			before := names(t, dir)
			lines := openElsewhere(t, path, run[len(run)-1], run[:len(run)-1]...)
			if got, want := line(lines, "open: "), fmt.Sprintf(tc.want, path, dir, ", which the bot runs as"); !strings.HasPrefix(got, want) {
				t.Errorf("Open: got %q, want %q", got, want)
			}
			if got, want := line(lines, "check: "), fmt.Sprintf(tc.want, path, dir, ", the one running check-config"); !strings.HasPrefix(got, want) {
				t.Errorf("Check: got %q, want %q", got, want)
			}
			if got := line(lines, "check not creatable: "); got != "true" {
				t.Errorf("Check's error wraps ErrNotCreatable: got %s, want true", got)
			}
			if after := names(t, dir); !slices.Equal(after, before) {
				t.Errorf("%s after Open: got %q, want %q (nothing created)", dir, after, before)
			}
		})
	}
}
