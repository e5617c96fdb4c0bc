package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// TestStoreOnReadOnlyFileSystem: a store on a file system mounted
// read-only stops console, and fails check-config, with what it is and
// what to do, not bbolt's "read-only file system" alone. Each runs as its
// own process in a mount namespace of its own, where the store's
// directory is bound read-only.
func TestStoreOnReadOnlyFileSystem(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare not found (apt-get install util-linux): %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "switchman.yaml")
	yaml := "store:\n  path: state/state.db\nusers:\n  alice: {}\nadmins: [alice]\nbot:\n  console_user: alice\napps:\n  web:\n" +
		"    artifact:\n      path: artifacts/{app}-{build}.tar.gz\n    path: srv/web\n    restart: 'true'\n" +
		"    health:\n      command: 'true'\n    environments:\n      prod:\n        hosts: [localhost]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	store := filepath.Join(state, "state.db")
	s, err := embedded.Open(store, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("state store %s is on a file system mounted read-only: the bot writes its locks, grants and audit trail to it: remount it read-write, or name a store.path on a writable one", store)
	script := `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"`
	for _, command := range []string{"check-config", "console"} {
		t.Run(command, func(t *testing.T) {
			cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", state, os.Args[0], "-config", cfg, command)
			cmd.Env = append(os.Environ(), "SWITCHMAN_TEST_MAIN=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(""), &stdout, &stderr
			err := cmd.Run()
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			if code := cmd.ProcessState.ExitCode(); code != 1 {
				t.Errorf("%s: got %v, want exit status 1", command, err)
			}
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("%s: got %q, want it to say %q", command, stderr.String(), want)
			}
			if strings.Contains(stdout.String(), ": OK") {
				t.Errorf("%s: got %q, want no OK", command, stdout.String())
			}
		})
	}
}
