package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
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
	cfg := writeFleetConfig(t, "{console_user: ana}", 200)
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

// TestServeConnectionsLeaveTheHostsTheirFiles floods `bot serve`, under
// an open-file limit, with idle connections, as anyone who reaches its
// listener can: the connections it takes must leave the files its SSH
// hosts need (2 each), or a deploy started then fails on healthy hosts
// with "too many open files".
func TestServeConnectionsLeaveTheHostsTheirFiles(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit not found (apt-get install util-linux): %v", err)
	}
	const limit, hosts, flood = 1024, 200, 800
	addr := freePort(t)
	cfg := writeFleetConfig(t, fmt.Sprintf("{listen: %q}", addr), hosts)
	cmd := exec.Command(prlimit, fmt.Sprintf("--nofile=%d:%d", limit, limit), "--", os.Args[0], "-config", cfg, "serve")
	cmd.Env = append(os.Environ(), "SWITCHMAN_TEST_MAIN=1")
	var stderr syncbuf.Buffer
	cmd.Stdin, cmd.Stderr = strings.NewReader(""), &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	pollHTTP(t, "http://"+addr+"/healthz", func(code int, _ string) bool { return code == http.StatusOK })

	for range flood {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
	}
	// prlimit executes the bot in its own place: the process is the bot.
	open := func() int {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
		if err != nil {
			t.Fatalf("count the bot's open files: %v", err)
		}
		return len(fds)
	}
	// Wait until the bot has taken what it takes of the flood: the count
	// holds still, or passes what leaves the hosts their files.
	most, last, still := limit-2*hosts, -1, 0
	deadline := time.Now().Add(30 * time.Second)
	for still < 20 && time.Now().Before(deadline) {
		n := open()
		if n > most {
			t.Fatalf("the bot holds %d open files with %d connections waiting, want at most %d: %d left of %d for %d SSH hosts (2 each); log:\n%s",
				n, flood, most, limit-n, limit, hosts, stderr.String())
		}
		if n == last {
			still++
		} else {
			last, still = n, 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	if still < 20 {
		t.Fatalf("the bot's open files never held still; last %d", last)
	}
}

func TestMaxConns(t *testing.T) {
	var b strings.Builder
	b.WriteString("store: {path: state.db}\napps:\n  web:\n    artifact: {path: 'builds/{app}-{build}.tar.gz'}\n    path: /srv/web\n    restart: 'true'\n")
	b.WriteString("    environments:\n      prod:\n        transport: ssh\n        ssh: {user: deploy, key_file: k, known_hosts: kh}\n        hosts:\n")
	for i := range 200 {
		fmt.Fprintf(&b, "          - web%d=10.0.%d.%d\n", i, i/250, i%250+1)
	}
	cfg, err := config.Parse("switchman.yaml", []byte(b.String()), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		limit uint64
		want  int
	}{
		{"limit unknown", 0, 0},
		{"half of what the hosts and the margin leave", 1024, 184}, // 200 hosts: 656 needed
		{"little left", 700, minConns},
		{"systemd's default", 524288, 261816},
		{"unlimited", ^uint64(0), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := maxConns(cfg, tt.limit); got != tt.want {
				t.Errorf("maxConns with a limit of %d: got %d, want %d", tt.limit, got, tt.want)
			}
		})
	}
}

// writeFleetConfig writes a config of one ssh env of n hosts, with bot
// as its bot section, and returns its path. Nothing listens at the hosts'
// addresses: the tests count files, and deploy nothing.
func writeFleetConfig(t *testing.T, bot string, n int) string {
	t.Helper()
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
	fmt.Fprintf(&b, "bot: %s\nstore: {path: %q}\nadmins: [ana]\n", bot, filepath.Join(dir, "state.db"))
	fmt.Fprintf(&b, "apps:\n  web:\n    artifact: {path: 'builds/{app}-{build}.tar.gz'}\n    path: /srv/web\n    restart: 'true'\n")
	fmt.Fprintf(&b, "    environments:\n      prod:\n        transport: ssh\n        ssh: {user: deploy, key_file: %q, known_hosts: %q}\n        hosts:\n", key, knownHosts)
	for i := range n {
		fmt.Fprintf(&b, "          - web%d=10.0.%d.%d\n", i, i/250, i%250+1)
	}
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}
