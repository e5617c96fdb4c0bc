package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenFileLimit starts the bot as its own process under an open-file
// limit (RLIMIT_NOFILE, set with prlimit) with a config of 200 SSH hosts:
// a limit it could not hold their connections in refuses the start,
// saying what to raise; a sufficient one starts it.
func TestOpenFileLimit(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit not found (apt-get install util-linux): %v", err)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen (apt-get install openssh-client): %v: %s", err, out)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "bot: {console_user: ana}\nstore: {path: %q}\nadmins: [ana]\n", filepath.Join(dir, "state.db"))
	fmt.Fprintf(&b, "apps:\n  web:\n    artifact: {path: 'builds/{app}-{build}.tar.gz'}\n    path: /srv/web\n    restart: 'true'\n")
	fmt.Fprintf(&b, "    environments:\n      prod:\n        transport: ssh\n        ssh: {user: deploy, key_file: %q, known_hosts: %q}\n        hosts:\n", key, knownHosts)
	for i := range 200 {
		fmt.Fprintf(&b, "          - web%d=10.0.%d.%d\n", i, i/250, i%250+1)
	}
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		limit int
		want  string // in standard error; "" to start
	}{
		{limit: 256, want: "the bot may need 656 open files (2 for each of its 200 SSH hosts, a deploy's connection and a status's, and 256 more), but may open 256 (RLIMIT_NOFILE); raise it"},
		{limit: 1024},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			cmd := exec.Command(prlimit, fmt.Sprintf("--nofile=%d:%d", tt.limit, tt.limit), "--", os.Args[0], "-config", cfg, "console")
			cmd.Env = append(os.Environ(), "SWITCHMAN_TEST_MAIN=1")
			var stderr bytes.Buffer
			cmd.Stdin, cmd.Stderr = strings.NewReader(""), &stderr
			err := cmd.Run()
			t.Logf("stderr:\n%s", stderr.String())
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("start under a limit of %d: got %v, want it to start and exit 0", tt.limit, err)
			case tt.want != "" && cmd.ProcessState.ExitCode() != 1:
				t.Errorf("start under a limit of %d: got %v, want exit status 1", tt.limit, err)
			case tt.want != "" && !strings.Contains(stderr.String(), tt.want):
				t.Errorf("start under a limit of %d: got %q, want it to say %q", tt.limit, stderr.String(), tt.want)
			}
		})
	}
}
