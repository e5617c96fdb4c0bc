package embedded_test

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// TestOpenLockedByOtherProgram: a lock on the store's file taken by a
// program other than the bot (flock(1) run by hand, a backup script, a
// program with its own bbolt file at that path) is no Switchman bot's, and
// the refusal names the process that holds it rather than call it one.
func TestOpenLockedByOtherProgram(t *testing.T) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Fatalf("flock not found (apt-get install util-linux): %v", err)
	}
	for _, readOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("read-only %v", readOnly), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchman.db")
			if err := openStore(t, path, nil).Close(); err != nil {
				t.Fatal(err)
			}
			// flock takes the lock, then runs sh, which says so and
			// waits for its standard input to close.
			cmd := exec.Command(flock, path, "sh", "-c", "echo locked; exec cat")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				stdin.Close()
				cmd.Wait()
			})
			if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "locked\n" {
				t.Fatalf("flock: got %q, %v, want %q", line, err, "locked\n")
			}
			s, err := embedded.Open(path, embedded.Options{ReadOnly: readOnly})
			if err == nil {
				s.Close()
				t.Fatal("Open: got nil error, want the store to be in use")
			}
			want := fmt.Sprintf("state store %s is in use by another process, pid %d (flock), which holds a lock on it", path, cmd.Process.Pid)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open: got %q, want it to say %q", err, want)
			}
			if strings.Contains(err.Error(), "Switchman") {
				t.Errorf("Open: got %q, want it not to call the holder a Switchman bot", err)
			}
			if code := errs.CodeOf(err); code != errs.Unavailable {
				t.Errorf("Open: got code %s, want %s", code, errs.Unavailable)
			}
		})
	}
}
