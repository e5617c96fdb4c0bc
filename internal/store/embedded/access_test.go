package embedded_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// The test binary doubles as a process that opens a store where this one
// cannot: in a mount namespace of its own with a file system mounted
// read-only, or as another user. With SWITCHMAN_TEST_OPEN set to a store's
// path it opens it to write and to read, checks it, and prints each
// outcome on a line of its own ("open: ...", "open read-only: ...",
// "check: ..."), with Check's warnings as log lines before the last.
func TestMain(m *testing.M) {
	if path := os.Getenv("SWITCHMAN_TEST_OPEN"); path != "" {
		openAndReport(path)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func openAndReport(path string) {
	outcome := func(err error) string {
		if err != nil {
			return strings.ReplaceAll(err.Error(), "\n", " ")
		}
		return "ok"
	}
	s, err := embedded.Open(path, embedded.Options{})
	if err == nil {
		err = s.Close()
	}
	fmt.Println("open:", outcome(err))
	s, err = embedded.Open(path, embedded.Options{ReadOnly: true})
	if err == nil {
		err = s.Close()
	}
	fmt.Println("open read-only:", outcome(err))
	err = embedded.Check(path, slog.New(slog.NewTextHandler(os.Stdout, nil)))
	fmt.Println("check:", outcome(err))
	fmt.Println("check not creatable:", errors.Is(err, embedded.ErrNotCreatable))
}

// openElsewhere runs this test binary as openAndReport with the store at
// path, through the command before (unshare, setpriv) and returns what it
// printed, a line each.
func openElsewhere(t *testing.T, path, bin string, before ...string) []string {
	t.Helper()
	args := append(before, bin)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "SWITCHMAN_TEST_OPEN="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	t.Logf("%s:\n%s", strings.Join(args, " "), out)
	return lines
}

// line returns the line of lines that starts with prefix, without it.
func line(lines []string, prefix string) string {
	for _, l := range lines {
		if s, ok := strings.CutPrefix(l, prefix); ok {
			return s
		}
	}
	return "(no line " + strings.TrimSpace(prefix) + ")"
}

// TestOpenReadOnlyFileSystem: a store on a file system mounted read-only
// (a volume mounted :ro, a disk remounted read-only after errors) stops
// the bot with what it is and what to do, not bbolt's "read-only file
// system" alone; Check says the same; bot audit still reads it. It runs in
// a mount namespace of its own, where the store's directory is bound
// read-only.
func TestOpenReadOnlyFileSystem(t *testing.T) {
	need(t, "unshare")
	dir := t.TempDir()
	path := filepath.Join(dir, "switchman.db")
	if err := openStore(t, path, nil).Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	script := `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2"`
	lines := openElsewhere(t, path, mustExecutable(t), "unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", dir)
	want := fmt.Sprintf("state store %s is on a file system mounted read-only: the bot writes its locks, grants and audit trail to it: remount it read-write, or name a store.path on a writable one (bot audit reads it as it is)", path)
	if got := line(lines, "open: "); !strings.HasPrefix(got, want) {
		t.Errorf("Open: got %q, want %q", got, want)
	}
	if got := line(lines, "open read-only: "); got != "ok" {
		t.Errorf("Open read-only: got %q, want ok", got)
	}
	if got, open := line(lines, "check: "), line(lines, "open: "); got != open {
		t.Errorf("Check: got %q, want %q (what Open says)", got, open)
	}
	after, err := os.Stat(path)
	if err != nil || !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Errorf("store after: got %v, %v, want it unchanged", after, err)
	}
}

// TestOpenNotThisUsers: a store file the bot's user may not open (restored
// as root, a bot started as another user) stops it with that user, the
// file's owner and mode, and what to do, not "permission denied" alone;
// Check, which may be run as another user than the bot's, warns of it.
// That process runs as nobody, from a copy of the test binary nobody may
// run.
func TestOpenNotThisUsers(t *testing.T) {
	need(t, "setpriv")
	dir, err := os.MkdirTemp("", "switchman-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "embedded.test")
	copyFile(t, mustExecutable(t), bin, 0o755)
	for _, tt := range []struct {
		mode         os.FileMode
		readOnly     string // what Open read-only says
		readOnlyWant string
	}{
		{0o644, "ok", ""},
		{0o600, "", "state store %s may not be read by this user, nobody (uid 65534): it is owned by root (uid 0), mode 0600: run it as root, or let this user read the file"},
	} {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			state := filepath.Join(dir, fmt.Sprintf("state-%04o", tt.mode))
			if err := os.Mkdir(state, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(state, "switchman.db")
			if err := openStore(t, path, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			lines := openElsewhere(t, path, bin, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
			want := fmt.Sprintf("state store %s may not be read and written by this user, nobody (uid 65534), which the bot runs as: it is owned by root (uid 0), mode %04o: run the bot as root, or give the file to this user: chown nobody %s", path, tt.mode, path)
			if got := line(lines, "open: "); !strings.HasPrefix(got, want) {
				t.Errorf("Open: got %q, want %q", got, want)
			}
			got := line(lines, "open read-only: ")
			if tt.readOnlyWant != "" {
				if want := fmt.Sprintf(tt.readOnlyWant, path); !strings.HasPrefix(got, want) {
					t.Errorf("Open read-only: got %q, want %q", got, want)
				}
			} else if got != tt.readOnly {
				t.Errorf("Open read-only: got %q, want %q", got, tt.readOnly)
			}
			if got := line(lines, "check: "); got != "ok" {
				t.Errorf("Check: got %q, want ok (a warning: it may be run as another user than the bot's)", got)
			}
			warn := fmt.Sprintf(`level=WARN msg="state store may not be read and written by this user: the bot would not start as this user" path=%s user=nobody uid=65534 owner=root owner_uid=0 mode=%04o`, path, tt.mode)
			if !strings.Contains(strings.Join(lines, "\n"), warn) {
				t.Errorf("Check: got %q, want the warning %q", lines, warn)
			}
		})
	}
}

func need(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found (apt-get install util-linux): %v", name, err)
	}
}

func mustExecutable(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
