package ssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/scriptio"
	"github.com/switchman-bot/switchman/internal/shell"
	"github.com/switchman-bot/switchman/internal/testenv/ports"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// testConnectTimeout is the ConnectTimeout of the tests' transports
// (transport, goTransport), which no busy machine reaches: a login to a
// host of the test's, or the tries of one that sends connections away
// (up to 5, with pauses between them), end well before it. None of the
// tests that keep it times a connection; a test of a timeout sets its
// own.
const testConnectTimeout = time.Minute

// transport returns a Transport logging in to f's hosts with f's client
// key, within testConnectTimeout; edit changes the config first.
func transport(t testing.TB, f *sshd.Fleet, edit func(*Config)) *Transport {
	t.Helper()
	cfg := Config{
		User:           f.User,
		KeyFile:        f.ClientKey,
		KnownHostsFile: f.KnownHosts,
		ConnectTimeout: testConnectTimeout,
	}
	if edit != nil {
		edit(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr
}

func host(f *sshd.Fleet, i int) deploy.Host {
	return deploy.Host{Name: f.Hosts[i].Name, Address: f.Hosts[i].Addr}
}

// open opens a session to host i of f, closed when the test ends.
func open(t testing.TB, tr *Transport, f *sshd.Fleet, i int) deploy.Session {
	t.Helper()
	s, err := tr.Open(context.Background(), host(f, i))
	if err != nil {
		t.Fatalf("Open %s: %v", f.Hosts[i].Name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func run(t testing.TB, s deploy.Session, script string) string {
	t.Helper()
	out, err := s.Run(context.Background(), deploy.Command{Script: script})
	if err != nil {
		t.Fatalf("Run %q: %v", script, err)
	}
	return string(out)
}

// waitFile polls until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within 10s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fingerprint(t *testing.T, pubFile string) string {
	t.Helper()
	b, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(key)
}

// keygen makes an ed25519 key pair at path with ssh-keygen, as users do.
// A passphrase is stretched with 1 bcrypt round instead of 16, which takes
// seconds under the race detector.
func keygen(t *testing.T, path, passphrase string) {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-a", "1", "-N", passphrase, "-C", "test", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRun(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	tr := transport(t, f, nil)
	s := open(t, tr, f, 0)

	const tenMB = 10 << 20
	longStderr := "yes e | head -c 10000 >&2; echo last-line >&2; exit 1"
	tests := []struct {
		name       string
		script     string
		stdin      io.Reader
		wantOut    string
		wantCode   int // 0: no error
		wantStderr string
	}{
		{name: "stdout", script: "echo hello; echo world", wantOut: "hello\nworld\n"},
		{name: "stdin streamed", script: "wc -c", stdin: io.LimitReader(zeros{}, tenMB), wantOut: strconv.Itoa(tenMB) + "\n"},
		{name: "empty stdin", script: "wc -c", stdin: strings.NewReader(""), wantOut: "0\n"},
		{name: "no stdin reads as empty", script: "cat; echo done", wantOut: "done\n"},
		{name: "exit code and stderr", script: "echo out; echo oops >&2; exit 3", wantOut: "out\n", wantCode: 3, wantStderr: "oops"},
		{name: "stderr keeps the tail", script: longStderr, wantCode: 1, wantStderr: "last-line"},
		{name: "killed by signal", script: "sh -c 'kill -9 $PPID'", wantCode: 137},
		{name: "sh, not the login shell", script: `[ "$(readlink -f /proc/$$/exe)" = "$(readlink -f /bin/sh)" ] && echo sh`, wantOut: "sh\n"},
		{name: "no arguments", script: `echo "$# ${1-unset}"`, wantOut: "0 unset\n"},
		{name: "syntax error ends the script", script: "if then", wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := s.Run(context.Background(), deploy.Command{Script: tt.script, Stdin: tt.stdin})
			if string(out) != tt.wantOut {
				t.Errorf("stdout: got %q, want %q", out, tt.wantOut)
			}
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			var exit *deploy.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("got error %v, want *deploy.ExitError", err)
			}
			if exit.Code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d", exit.Code, tt.wantCode)
			}
			if !strings.HasSuffix(exit.Stderr, tt.wantStderr) {
				t.Errorf("stderr: got %q, want it to end with %q", exit.Stderr, tt.wantStderr)
			}
			if len(exit.Stderr) > stderrTail {
				t.Errorf("stderr: got %d bytes, want at most %d", len(exit.Stderr), stderrTail)
			}
		})
	}

	t.Run("NUL in script", func(t *testing.T) {
		if _, err := s.Run(context.Background(), deploy.Command{Script: "echo a\x00b"}); err == nil {
			t.Fatal("got no error for a script with a NUL byte")
		}
	})

	// Values a user or the config could hand us come back unchanged
	// through shell.Quote, the login shell, the wrapper and /bin/sh -c.
	t.Run("hostile strings round-trip", func(t *testing.T) {
		hostile := []string{
			"", "plain", "$(id)", "`id`", "$HOME", "${IFS}", "$1", "$0", "it's", `say "hi"`, `'\''`,
			"a\nb", "\n", "tab\there", `back\slash`, "a;b && c || d | e", "*", "~root",
			"-n", "%s%d\\n", "#comment", "../../etc/passwd", "ünïcödé 😀", "\x1b[31mred",
			"!event", "a b  c", strings.Repeat("x'y\"$(z)", 5_000),
		}
		// One run for all: printf ends each with a NUL, which no shell
		// value holds.
		out, err := s.Run(context.Background(), deploy.Command{Script: `printf '%s\0' ` + shell.Join(hostile...)})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if len(got) != len(hostile) {
			t.Fatalf("got %d values, want %d", len(got), len(hostile))
		}
		for i, want := range hostile {
			if got[i] != want {
				t.Errorf("got %.40q, want %.40q", got[i], want)
			}
		}
	})

	t.Run("stdin read error kills the script", func(t *testing.T) {
		// A script that must not act on a truncated stream: it writes
		// the marker only on end of input.
		marker := "/srv/complete-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		stdin := io.MultiReader(strings.NewReader("partial"), errReader{})
		_, err := s.Run(context.Background(), deploy.Command{Script: "cat >/dev/null && touch " + marker, Stdin: stdin})
		if err == nil || !strings.Contains(err.Error(), "read stdin") {
			t.Fatalf("got error %v, want a stdin read error", err)
		}
		if out := run(t, s, "test -e "+marker+" && echo present || echo absent"); out != "absent\n" {
			t.Errorf("marker: got %q, want absent", out)
		}
	})
}

// countingWriter counts what is written to it, from any goroutine.
type countingWriter struct {
	mu sync.Mutex
	n  int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += len(p)
	return len(p), nil
}

// TestRunKeepsStdoutTail: of a script that prints without end, in the
// connection's shell or in a session of its own, the bot keeps the end
// of its output, saying how much it dropped; a live writer gets all of it.
func TestRunKeepsStdoutTail(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	s := open(t, transport(t, f, nil), f, 0)
	const flood = 3 * scriptio.MaxOutput
	script := "head -c " + strconv.Itoa(flood) + " /dev/zero | tr '\\0' x; echo; echo the verdict"
	tests := []struct {
		name  string
		stdin io.Reader
	}{
		{"in the shell", nil},
		{"in a session", strings.NewReader("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var live countingWriter
			out, err := s.Run(context.Background(), deploy.Command{Script: script, Stdin: tt.stdin, Stdout: &live, Timeout: time.Minute})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if want := "[output truncated: the first " + strconv.Itoa(flood+1) + " bytes were dropped]\nthe verdict\n"; string(out) != want {
				t.Errorf("got %d bytes starting %.80q, want %q", len(out), out, want)
			}
			if want := flood + len("\nthe verdict\n"); live.n != want {
				t.Errorf("live writer got %d bytes, want %d", live.n, want)
			}
			// The shell's next step starts afresh.
			if got := run(t, s, "echo next"); got != "next\n" {
				t.Errorf("next step: got %q", got)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("artifact stream broke") }

func TestSessionReuse(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	s := open(t, transport(t, f, nil), f, 0)
	// SSH_CONNECTION names the client's port: one value means one
	// connection served every Run.
	first := run(t, s, "echo $SSH_CONNECTION")
	for i := range 19 {
		if got := run(t, s, "echo $SSH_CONNECTION"); got != first {
			t.Fatalf("run %d: SSH_CONNECTION %q, want %q (same connection)", i+2, got, first)
		}
	}
	if n := strings.Count(f.Log(0), "Accepted publickey"); n != 1 {
		t.Errorf("sshd accepted %d logins, want 1", n)
	}
}

func TestOwnSrvPerHost(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 2, sshd.Options{})
	tr := transport(t, f, nil)
	s0, s1 := open(t, tr, f, 0), open(t, tr, f, 1)
	run(t, s0, "mkdir -p /srv/app/releases/1 && echo v1 > /srv/app/releases/1/VERSION")
	_, err := s1.Run(context.Background(), deploy.Command{Script: "test -e /srv/app/releases/1/VERSION"})
	var exit *deploy.ExitError
	if !errors.As(err, &exit) || exit.Code != 1 {
		t.Errorf("host1 sees host0's file: got %v, want exit status 1", err)
	}
	if got := readFile(t, filepath.Join(f.Hosts[0].Root, "app/releases/1/VERSION")); got != "v1\n" {
		t.Errorf("host0 Root: got %q, want %q", got, "v1\n")
	}
	if _, err := os.Stat(filepath.Join(f.Hosts[1].Root, "app")); !os.IsNotExist(err) {
		t.Errorf("host1 Root: got %v, want not exist", err)
	}
}

func TestHostKeys(t *testing.T) {
	t.Parallel()
	// The hosts also have an RSA key, and known_hosts lists only one of a
	// host's keys: asking for the known key's type keeps the other from
	// looking like a changed key.
	dir := t.TempDir()
	rsaKey := filepath.Join(dir, "rsa_hostkey")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsaKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	f := sshd.StartFleet(t, 3, sshd.Options{NoNamespace: true, Config: []string{"HostKey " + strconv.Quote(rsaKey)}})
	oldFP := fingerprint(t, f.Hosts[2].HostKey)
	f.RegenerateHostKey(2)
	newFP := fingerprint(t, f.Hosts[2].HostKey)

	// known_hosts that knows host0 only.
	lines := strings.SplitAfter(readFile(t, f.KnownHosts), "\n")
	onlyHost0 := filepath.Join(dir, "known_hosts_host0")
	if err := os.WriteFile(onlyHost0, []byte(lines[0]), 0o644); err != nil {
		t.Fatal(err)
	}

	// known_hosts that knows host1 by its RSA key only.
	_, port, _ := net.SplitHostPort(f.Hosts[1].Addr)
	rsaOnly := filepath.Join(dir, "known_hosts_rsa")
	if err := os.WriteFile(rsaOnly, []byte("[127.0.0.1]:"+port+" "+readFile(t, rsaKey+".pub")), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		knownHosts  string
		host        int
		ok          bool
		changed     bool
		fingerprint string
	}{
		{name: "known key", knownHosts: f.KnownHosts, host: 0, ok: true},
		{name: "known ed25519 key, host also has rsa", knownHosts: f.KnownHosts, host: 1, ok: true},
		{name: "known rsa key, host also has ed25519", knownHosts: rsaOnly, host: 1, ok: true},
		{name: "unknown host", knownHosts: onlyHost0, host: 1, fingerprint: fingerprint(t, f.Hosts[1].HostKey)},
		{name: "changed key", knownHosts: f.KnownHosts, host: 2, changed: true, fingerprint: newFP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := transport(t, f, func(c *Config) { c.KnownHostsFile = tt.knownHosts })
			s, err := tr.Open(context.Background(), host(f, tt.host))
			if tt.ok {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want a host key error")
			}
			var hk *HostKeyError
			if !errors.As(err, &hk) {
				t.Fatalf("got %v, want *HostKeyError", err)
			}
			if hk.Changed != tt.changed || hk.Fingerprint != tt.fingerprint || hk.Host != f.Hosts[tt.host].Name {
				t.Errorf("got %+v, want Host %s, Changed %v, Fingerprint %s", *hk, f.Hosts[tt.host].Name, tt.changed, tt.fingerprint)
			}
			msg := err.Error()
			for _, want := range []string{f.Hosts[tt.host].Name, tt.fingerprint} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not name %q", msg, want)
				}
			}
			if want := "man-in-the-middle"; strings.Contains(msg, want) != tt.changed {
				t.Errorf("error %q: mentions %q = %v, want %v", msg, want, !tt.changed, tt.changed)
			}
			if errors.Is(err, deploy.ErrUnreachable) {
				t.Errorf("host key error %v wraps ErrUnreachable", err)
			}
		})
	}
	if oldFP == newFP {
		t.Errorf("RegenerateHostKey kept fingerprint %s", oldFP)
	}
}

// TestHostNameCase: known_hosts is searched for a host by its name in
// lower case, as ssh searches it and writes it (plain or hashed), so that
// a host configured with capitals is not refused as unknown; and by its
// name as given, which a line written by hand may hold.
func TestHostNameCase(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(f.Hosts[0].Addr)
	key := readFile(t, f.Hosts[0].HostKey)
	plain := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(plain, []byte("[localhost]:"+port+" "+key), 0o644); err != nil {
		t.Fatal(err)
	}
	hashed := filepath.Join(dir, "known_hosts_hashed")
	if err := os.WriteFile(hashed, []byte(readFile(t, plain)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-H", "-f", hashed).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -H: %v: %s", err, out)
	}
	byHand := filepath.Join(dir, "known_hosts_by_hand")
	if err := os.WriteFile(byHand, []byte("[LocalHost]:"+port+" "+key), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ knownHosts, name string }{
		{plain, "localhost"}, {plain, "LocalHost"}, {plain, "LOCALHOST"},
		{hashed, "localhost"}, {hashed, "LocalHost"}, {hashed, "LOCALHOST"},
		{byHand, "LocalHost"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.knownHosts)+"/"+tt.name, func(t *testing.T) {
			tr := transport(t, f, func(c *Config) { c.KnownHostsFile = tt.knownHosts })
			s, err := tr.Open(context.Background(), deploy.Host{Name: "web", Address: net.JoinHostPort(tt.name, port)})
			if err != nil {
				t.Fatalf("Open %s: got %v, want the key of its line accepted", tt.name, err)
			}
			s.Close()
		})
	}
}

// TestHostKeyTypeChanged: a host that no longer offers the type of key
// known_hosts holds for it (ed25519 known, only RSA offered, as a
// man-in-the-middle with an RSA key would) is refused as a changed key
// named by the fingerprint of the key it offered.
func TestHostKeyTypeChanged(t *testing.T) {
	t.Parallel()
	rsaKey := filepath.Join(t.TempDir(), "rsa_hostkey")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsaKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true, Config: []string{
		"HostKey " + strconv.Quote(rsaKey),
		"HostKeyAlgorithms rsa-sha2-512,rsa-sha2-256",
	}})
	s, err := transport(t, f, nil).Open(context.Background(), host(f, 0))
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded, want a host key error")
	}
	var hk *HostKeyError
	if !errors.As(err, &hk) {
		t.Fatalf("got %v, want *HostKeyError", err)
	}
	if want := fingerprint(t, rsaKey+".pub"); !hk.Changed || hk.KeyType != ssh.KeyAlgoRSA || hk.Fingerprint != want {
		t.Errorf("got %+v, want Changed, KeyType %s, Fingerprint %s", *hk, ssh.KeyAlgoRSA, want)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	keygen(t, key, "")
	encrypted := filepath.Join(dir, "id_enc")
	keygen(t, encrypted, "s3cret pass")
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for no error
	}{
		{"ok", Config{User: "deploy", KeyFile: key, KnownHostsFile: knownHosts}, ""},
		{"no known_hosts", Config{User: "deploy", KeyFile: key},
			"ssh: known_hosts file required (refusing to connect without verifying host keys)"},
		{"known_hosts missing on disk", Config{User: "deploy", KeyFile: key, KnownHostsFile: filepath.Join(dir, "nope")}, "known_hosts"},
		{"insecure opt-out", Config{User: "deploy", KeyFile: key, InsecureIgnoreHostKey: true}, ""},
		{"both host key settings", Config{User: "deploy", KeyFile: key, KnownHostsFile: knownHosts, InsecureIgnoreHostKey: true}, "not both"},
		{"no user", Config{KeyFile: key, KnownHostsFile: knownHosts}, "user required"},
		{"no credentials", Config{User: "deploy", KnownHostsFile: knownHosts}, "no credentials"},
		{"key file missing", Config{User: "deploy", KeyFile: filepath.Join(dir, "nope"), KnownHostsFile: knownHosts}, "read key"},
		{"encrypted key, no passphrase", Config{User: "deploy", KeyFile: encrypted, KnownHostsFile: knownHosts}, "encrypted"},
		{"encrypted key, wrong passphrase", Config{User: "deploy", KeyFile: encrypted, Passphrase: "wrong guess", KnownHostsFile: knownHosts}, "parse key"},
		{"encrypted key, passphrase", Config{User: "deploy", KeyFile: encrypted, Passphrase: "s3cret pass", KnownHostsFile: knownHosts}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if tt.cfg.Passphrase != "" && strings.Contains(err.Error(), tt.cfg.Passphrase) {
				t.Errorf("error %q shows the passphrase", err)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	encrypted := filepath.Join(dir, "id_enc")
	keygen(t, encrypted, "correct horse")

	// An in-process ssh-agent with a key of its own.
	_, agentKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: agentKey}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var served sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		served.Wait()
	})
	served.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			served.Go(func() {
				defer c.Close()
				_ = agent.ServeAgent(keyring, c) // ends with the client's connection
			})
		}
	})
	agentPub, err := ssh.NewPublicKey(agentKey.Public())
	if err != nil {
		t.Fatal(err)
	}

	// The host allows agent forwarding, so that only the bot's not
	// asking for it keeps SSH_AUTH_SOCK unset there.
	f := sshd.StartFleet(t, 1, sshd.Options{AuthorizedKeys: []string{
		readFile(t, encrypted+".pub"),
		string(ssh.MarshalAuthorizedKey(agentPub)),
	}, Config: []string{"AllowAgentForwarding yes"}})
	var logs lockedBuffer
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"key file", nil},
		{"passphrase-protected key", func(c *Config) { c.KeyFile, c.Passphrase = encrypted, "correct horse" }},
		{"ssh-agent", func(c *Config) { c.KeyFile, c.UseAgent, c.AgentSocket = "", true, sock }},
		{"insecure ignore host key", func(c *Config) {
			c.KnownHostsFile, c.InsecureIgnoreHostKey = "", true
			c.Log = slog.New(slog.NewTextHandler(&logs, nil))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, transport(t, f, tt.edit), f, 0)
			// No agent is forwarded, whatever the client has.
			if got, want := run(t, s, "id -un; echo ${SSH_AUTH_SOCK:-no-agent}"), f.User+"\nno-agent\n"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	if got := string(logs.Bytes()); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "host key verification disabled") ||
		!strings.Contains(got, "host="+f.Hosts[0].Name) {
		t.Errorf("insecure Open logged %q, want a warning naming the host", got)
	}
	// A deploy's report lists each host's error: it says which host
	// could not be logged in to, and why.
	t.Run("no agent at the socket", func(t *testing.T) {
		none := filepath.Join(dir, "none.sock")
		_, err := transport(t, f, func(c *Config) { c.KeyFile, c.UseAgent, c.AgentSocket = "", true, none }).Open(context.Background(), host(f, 0))
		want := "ssh: " + f.Hosts[0].Name + " (" + f.Hosts[0].Addr + "): connect to ssh-agent: dial unix " + none
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("got %v, want an error starting %q", err, want)
		}
	})
	t.Run("unauthorized key", func(t *testing.T) {
		other := filepath.Join(dir, "other")
		keygen(t, other, "")
		_, err := transport(t, f, func(c *Config) { c.KeyFile = other }).Open(context.Background(), host(f, 0))
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") || errors.Is(err, deploy.ErrUnreachable) {
			t.Errorf("got %v, want an authentication error that is not ErrUnreachable", err)
		}
	})
}

// TestRefusedLoginBeforeKeyNotTriedAgain: a host that sends the
// connection away once the key exchange is done, before the bot offered
// it a key (an sshd whose MaxAuthTries lets no try disconnects as the
// login begins, "Too many authentication failures"), refused the login:
// it is reported as a failed login at once, as one that refuses the key
// is, not tried again and reported unreachable as a host over its limits.
func TestRefusedLoginBeforeKeyNotTriedAgain(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true, Config: []string{"MaxAuthTries 0"}})
	tr := transport(t, f, nil)
	pauses := 0
	tr.pause = func(context.Context, time.Duration) error {
		pauses++
		return nil
	}
	before := strings.Count(f.Log(0), "Connection from ")
	s, err := tr.Open(context.Background(), host(f, 0))
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded, want a refused login")
	}
	want := "ssh: " + f.Hosts[0].Name + " (" + f.Hosts[0].Addr + "): log in as " + f.User + "@" + f.Hosts[0].Addr + ": "
	if msg := err.Error(); !strings.HasPrefix(msg, want) || !strings.Contains(msg, "Too many authentication failures") {
		t.Errorf("got %q, want it to start %q and give the host's reason", msg, want)
	}
	if errors.Is(err, deploy.ErrUnreachable) {
		t.Errorf("got %v, want a failed login, not an unreachable host", err)
	}
	if got := strings.Count(f.Log(0), "Connection from ") - before; pauses != 0 || got != 1 {
		t.Errorf("the host got %d connections, with %d pauses between them; want 1 and none", got, pauses)
	}
}

// TestDroppedDuringLoginNotTriedAgain: a host whose sshd ends the
// connection once the key exchange is done, during the login, with no
// SSH disconnect (here its login's privileged process is killed as it
// checks the key, as the kernel's OOM killer may kill it) is reported as
// a failed login that says the host closed the connection, not as an
// unreachable host with x/crypto's bare EOF; and it is not tried again,
// as the bot's key was offered.
func TestDroppedDuringLoginNotTriedAgain(t *testing.T) {
	t.Parallel()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// sshd runs the command from the login's privileged process, which
	// the command kills: the unprivileged one that speaks to the bot
	// then exits without a word.
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true, Config: []string{
		`AuthorizedKeysCommand /bin/sh -c "kill -9 $PPID"`,
		"AuthorizedKeysCommandUser " + u.Username,
	}})
	// A key authorized_keys lacks, so that sshd asks the command.
	key := filepath.Join(t.TempDir(), "id")
	keygen(t, key, "")
	tr := transport(t, f, func(c *Config) { c.KeyFile = key })
	pauses := 0
	tr.pause = func(context.Context, time.Duration) error {
		pauses++
		return nil
	}
	before := strings.Count(f.Log(0), "Connection from ")
	s, err := tr.Open(context.Background(), host(f, 0))
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded, want a failed login")
	}
	want := "ssh: " + f.Hosts[0].Name + " (" + f.Hosts[0].Addr + "): log in as " + f.User + "@" + f.Hosts[0].Addr + ": the host closed the connection during login: "
	if msg := err.Error(); !strings.HasPrefix(msg, want) {
		t.Errorf("got %q, want it to start %q", msg, want)
	}
	if errors.Is(err, deploy.ErrUnreachable) || !errors.Is(err, io.EOF) {
		t.Errorf("got %v, want a failed login wrapping io.EOF, not an unreachable host", err)
	}
	if got := strings.Count(f.Log(0), "Connection from ") - before; pauses != 0 || got != 1 {
		t.Errorf("the host got %d connections, with %d pauses between them; want 1 and none", got, pauses)
	}
}

// stuckSigner is an ssh-agent that lists its keys and never signs, as one
// waiting for a confirmation or a touch does.
type stuckSigner struct {
	agent.Agent
	release <-chan struct{}
}

func (a stuckSigner) Sign(ssh.PublicKey, []byte) (*ssh.Signature, error) {
	<-a.release
	return nil, errors.New("released")
}

// serveAgent serves a on a unix socket until the test ends and returns
// the socket's path; a nil a accepts connections and never answers.
func serveAgent(t *testing.T, a agent.Agent) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var served sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		served.Wait()
	})
	served.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if a != nil {
				served.Go(func() { _ = agent.ServeAgent(a, c) })
			}
		}
	})
	return sock
}

// TestHungAgent: an ssh-agent that stops answering, at the list of its
// keys or at a signature during the handshake, holds Open no longer than
// ConnectTimeout or ctx, and the error blames the agent, not the host.
func TestHungAgent(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	silent := serveAgent(t, nil)
	signless := serveAgent(t, stuckSigner{Agent: keyring, release: release})
	// Run before the agents' cleanups, which wait for the signers.
	t.Cleanup(func() { close(release) })
	// The agent's key is the only one that logs in: the handshake must ask
	// the agent to sign.
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true, AuthorizedKeys: []string{string(ssh.MarshalAuthorizedKey(pub))}})

	// The bound must leave the handshake time to reach the agent before
	// it ends: cut shorter (300 ms did, on two busy cores), the host is
	// blamed, rightly, for a handshake that never asked the agent.
	const bound = 2 * time.Second
	tests := []struct {
		name  string
		sock  string
		byCtx bool // ctx is canceled after bound; otherwise ConnectTimeout is bound
		want  error
	}{
		{"no answer to the key list, connect_timeout", silent, false, context.DeadlineExceeded},
		{"no answer to the key list, ctx canceled", silent, true, context.Canceled},
		{"no signature, connect_timeout", signless, false, context.DeadlineExceeded},
		{"no signature, ctx canceled", signless, true, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := transport(t, f, func(c *Config) {
				c.KeyFile, c.UseAgent, c.AgentSocket = "", true, tt.sock
				c.ConnectTimeout = bound
				if tt.byCtx {
					c.ConnectTimeout = time.Minute
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.byCtx {
				time.AfterFunc(bound, cancel)
			}
			done := make(chan error, 1)
			go func() {
				_, err := tr.Open(ctx, host(f, 0))
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, tt.want) || errors.Is(err, deploy.ErrUnreachable) {
					t.Errorf("got %v, want an error wrapping %v and not ErrUnreachable", err, tt.want)
				}
				if !tt.byCtx && !strings.Contains(err.Error(), "ssh-agent") {
					t.Errorf("got %v, want it to name the ssh-agent", err)
				}
				// The error above says which bound ended the wait:
				// ConnectTimeout's deadline or the caller's cancel.
			case <-time.After(bound + time.Minute):
				// An agent that never answers holds an unbounded
				// Open forever: this fails only then.
				t.Fatalf("Open still blocked %s after a bound of %s", bound+time.Minute, bound)
			}
		})
	}
}

func TestJumpHost(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 2, sshd.Options{})
	// No keepalive within the test: only the tunnel's end can end a step
	// once the bastion died.
	tr := transport(t, f, func(c *Config) { c.Jump, c.KeepAlive = &JumpHost{Address: f.Hosts[0].Addr}, time.Hour })
	s := open(t, tr, f, 1)
	// Each host has its own /srv: the file shows which host ran it.
	run(t, s, "touch /srv/via-jump")
	waitFile(t, filepath.Join(f.Hosts[1].Root, "via-jump"))
	if n := strings.Count(f.Log(0), "Accepted publickey"); n != 1 {
		t.Errorf("bastion accepted %d logins, want 1", n)
	}
	// The kernel times the hop to the bastion, not the one behind it:
	// through a bastion the round trip is unknown, directly it is known.
	if rtt := s.(*session).RoundTrip(); rtt != 0 {
		t.Errorf("round trip through a bastion = %v, want 0 (unknown)", rtt)
	}
	direct := open(t, transport(t, f, nil), f, 1)
	if rtt := direct.(*session).RoundTrip(); rtt <= 0 || rtt > time.Second {
		t.Errorf("round trip of a direct loopback connection = %v, want between 0 and 1s", rtt)
	}

	// A target the bastion cannot reach: the error says it was the
	// bastion, not the bot, that could not connect.
	_, err := tr.Open(context.Background(), deploy.Host{Name: "gone", Address: "127.0.0.1:1"})
	want := "ssh: gone (127.0.0.1:1): host unreachable: the bastion (" + f.Hosts[0].Addr + ") could not connect to it: ssh: rejected: connect failed"
	if !errors.Is(err, deploy.ErrUnreachable) || err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Open of a target the bastion cannot reach: got %v, want ErrUnreachable starting %q", err, want)
	}

	// The tunnel dies with the bastion: the step fails rather than wait
	// for keepalives, which would take an hour.
	f.Kill(0)
	ran := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), deploy.Command{Script: "true"})
		ran <- err
	}()
	select {
	case err = <-ran:
	case <-time.After(time.Minute):
		t.Fatal("Run still running a minute after the bastion died: the tunnel's end went unnoticed")
	}
	if !errors.Is(err, deploy.ErrUnreachable) {
		t.Fatalf("Run after the bastion died: got %v, want ErrUnreachable", err)
	}
	_, err = tr.Open(context.Background(), host(f, 1))
	if !errors.Is(err, deploy.ErrUnreachable) || !strings.Contains(err.Error(), "bastion") {
		t.Errorf("Open through a dead bastion: got %v, want ErrUnreachable naming the bastion", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	s := open(t, transport(t, f, nil), f, 0)
	// A unique sleep, so that the check below finds only this one.
	// Longer than the hang guard below: a step the timeout did not end
	// would outlast it.
	sleep := "sleep 300." + strconv.Itoa(os.Getpid()%100000)
	pattern := strings.Replace(sleep, ".", "[.]", 1)

	// What an earlier step left running in the background (an app a
	// restart started with nohup) is in the shell's process group, and
	// must outlive the timed-out step; what the timed-out step started
	// must not.
	daemon := "sleep 31." + strconv.Itoa(os.Getpid()%100000)
	run(t, s, "nohup "+daemon+" >/dev/null 2>&1 </dev/null &")
	t.Cleanup(func() {
		_, _ = s.Run(context.Background(), deploy.Command{Script: "pkill -f " + shell.Quote(strings.Replace(daemon, ".", "[.]", 1))})
	})
	child := "sleep 32." + strconv.Itoa(os.Getpid()%100000)
	// An orphan: its parent exits at once, so it descends from nothing
	// the step runs by the time the step is killed.
	orphan := "sleep 33." + strconv.Itoa(os.Getpid()%100000)
	shellPID := run(t, s, "echo $$")

	ran := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), deploy.Command{Script: "sh -c '" + orphan + " >/dev/null 2>&1 &'; " + child + " & " + sleep, Timeout: 300 * time.Millisecond})
		ran <- err
	}()
	var err error
	select {
	case err = <-ran:
	case <-time.After(time.Minute):
		t.Fatal("Run still running a minute into a step with a timeout of 300ms")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "step timed out after 300ms") {
		t.Fatalf("got %v, want a step timeout wrapping context.DeadlineExceeded", err)
	}
	// The step's processes were killed, the earlier step's daemon was
	// not, and the shell goes on.
	for _, tt := range []struct{ cmd, want string }{
		{"pgrep -f " + shell.Quote(pattern) + " || echo gone", "gone\n"},
		{"pgrep -f " + shell.Quote(strings.Replace(child, ".", "[.]", 1)) + " || echo gone", "gone\n"},
		{"pgrep -f " + shell.Quote(strings.Replace(orphan, ".", "[.]", 1)) + " || echo gone", "gone\n"},
		{"pgrep -f " + shell.Quote(strings.Replace(daemon, ".", "[.]", 1)) + " >/dev/null && echo alive", "alive\n"},
		{"echo $$", shellPID},
	} {
		if got := run(t, s, tt.cmd); got != tt.want {
			t.Errorf("after the timeout, %s: got %q, want %q", tt.cmd, got, tt.want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = s.Run(ctx, deploy.Command{Script: sleep})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled run: got %v, want context.Canceled", err)
	}
}

func TestDeadHost(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 2, sshd.Options{})
	tr := transport(t, f, func(c *Config) {
		c.KeepAlive = 500 * time.Millisecond
		c.ConnectTimeout = time.Second
	})
	tests := []struct {
		name string
		host int
		stop func(int)
		// how says what ended the step; open what a new connection met.
		how, open string
	}{
		// The kernel closes a killed host's connections at once: the
		// step fails as the connection ends, not by keepalives.
		{"killed", 0, f.Kill, "connection lost", "connection refused"},
		// A hung host keeps its connections open: keepalives must
		// notice, after about 4 intervals.
		{"paused", 1, f.Pause, "stopped answering", "no answer within 1s"},
	}
	t.Cleanup(func() { f.Resume(1) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, tr, f, tt.host)
			started := filepath.Join(f.Hosts[tt.host].Root, "started")
			type result struct {
				err error
				at  time.Time
			}
			done := make(chan result, 1)
			go func() {
				_, err := s.Run(context.Background(), deploy.Command{Script: "touch /srv/started; sleep 30"})
				done <- result{err, time.Now()}
			}()
			waitFile(t, started)
			stoppedAt := time.Now()
			tt.stop(tt.host)
			var res result
			select {
			case res = <-done:
			case <-time.After(time.Minute):
				t.Fatal("Run still running a minute after the host died")
			}
			if !errors.Is(res.err, deploy.ErrUnreachable) || !strings.Contains(res.err.Error(), f.Hosts[tt.host].Name) {
				t.Fatalf("got %v, want ErrUnreachable naming the host", res.err)
			}
			if !strings.Contains(res.err.Error(), tt.how) {
				t.Errorf("got %v, want it to say %q", res.err, tt.how)
			}
			t.Logf("declared dead after %s: %v", res.at.Sub(stoppedAt).Round(time.Millisecond), res.err)
			// Later steps fail at once.
			if _, err := s.Run(context.Background(), deploy.Command{Script: "true"}); !errors.Is(err, deploy.ErrUnreachable) {
				t.Errorf("next Run: got %v, want ErrUnreachable", err)
			}
			// A new connection: refused for a killed host, no banner within
			// ConnectTimeout for a hung one.
			_, err := tr.Open(context.Background(), host(f, tt.host))
			if !errors.Is(err, deploy.ErrUnreachable) || !strings.Contains(err.Error(), f.Hosts[tt.host].Name) || !strings.Contains(err.Error(), tt.open) {
				t.Errorf("Open: got %v, want ErrUnreachable naming the host and saying %q", err, tt.open)
			}
		})
	}
}

// TestHungHostWithinTheCallersLimit: a caller whose own time limit is
// shorter than ConnectTimeout (status waits 5s, the connect timeout is
// 10s by default) and passes while a hung host has not answered is told
// the host is unreachable, as at ConnectTimeout, and that its limit
// passed; not that the host refused the bot.
func TestHungHostWithinTheCallersLimit(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	tr := transport(t, f, func(c *Config) { c.ConnectTimeout = time.Minute })
	f.Pause(0)
	t.Cleanup(func() { f.Resume(0) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := tr.Open(ctx, host(f, 0))
	if !errors.Is(err, deploy.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want ErrUnreachable and context.DeadlineExceeded", err)
	}
	// It names the host and says how long it had, as "no answer within
	// 10s" does at ConnectTimeout.
	prefix := "ssh: " + f.Hosts[0].Name + " (" + f.Hosts[0].Addr + "): host unreachable: no answer within the time limit of its caller, "
	suffix := " after the connection began: context deadline exceeded (connecting as " + f.User + "@" + f.Hosts[0].Addr + ")"
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) || !strings.HasSuffix(msg, suffix) {
		t.Fatalf("got %q, want %q, how long, %q", msg, prefix, suffix)
	}
	if d, perr := time.ParseDuration(strings.TrimSuffix(strings.TrimPrefix(msg, prefix), suffix)); perr != nil || d <= 0 {
		t.Errorf("got %q, want how long the connection had between %q and %q", msg, prefix, suffix)
	}
	// That message, not "no answer within 1m0s", shows the caller's
	// limit ended the wait rather than ConnectTimeout.
}

func TestOpenContext(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	tr := transport(t, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Open(ctx, host(f, 0)); !errors.Is(err, context.Canceled) || errors.Is(err, deploy.ErrUnreachable) {
		t.Errorf("canceled Open: got %v, want context.Canceled", err)
	}
	if _, err := tr.Open(context.Background(), deploy.Host{Name: "nowhere"}); err == nil {
		t.Error("Open of a host without address succeeded")
	}
}

func TestWithPort(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-1", "web-1:22"},
		{"web-1:2222", "web-1:2222"},
		{"10.0.0.1", "10.0.0.1:22"},
		{"::1", "[::1]:22"},
		{"[::1]", "[::1]:22"},
		{"[::1]:2222", "[::1]:2222"},
	}
	for _, tt := range tests {
		if got := withPort(tt.in, 22); got != tt.want {
			t.Errorf("withPort(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPrefersAESGCM(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true, Config: []string{"LogLevel DEBUG1"}})
	open(t, transport(t, f, nil), f, 0)
	for _, want := range []string{
		"kex: client->server cipher: aes128-gcm@openssh.com",
		"kex: server->client cipher: aes128-gcm@openssh.com",
	} {
		if !strings.Contains(f.Log(0), want) {
			t.Errorf("sshd log lacks %q", want)
		}
	}
}

func TestStderrWriter(t *testing.T) {
	tests := []struct {
		name     string
		writes   []string
		wantPGID int
		want     string
	}{
		{"marker then script", []string{pgidMarker + "4242\n", "oops\n"}, 4242, "oops"},
		{"marker split across writes", []string{"switchman-pg", "id=77\nfi", "rst\nsecond\n"}, 77, "first\nsecond"},
		{"login shell noise first", []string{"bashrc: warning\n" + pgidMarker + "9\nscript\n"}, 9, "bashrc: warning\nscript"},
		{"script output that looks like the marker", []string{pgidMarker + "5\n" + pgidMarker + "6\n"}, 5, pgidMarker + "6"},
		{"no marker", []string{"no newline yet"}, 0, "no newline yet"},
		{"no marker, whole lines", []string{"This account is currently not available.\n", "bye\n", "and"}, 0, "This account is currently not available.\nbye\nand"},
		{"bad pid", []string{pgidMarker + "x\nrest\n"}, 0, "rest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newStderrWriter()
			for _, p := range tt.writes {
				if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
					t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(p))
				}
			}
			if got := w.PGID(); got != tt.wantPGID {
				t.Errorf("PGID: got %d, want %d", got, tt.wantPGID)
			}
			if got := w.String(); got != tt.want {
				t.Errorf("String: got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("gives up after the preamble limit", func(t *testing.T) {
		w := newStderrWriter()
		w.Write(bytes.Repeat([]byte("x"), maxPreamble+1))
		select {
		case <-w.ready:
		default:
			t.Fatal("still waiting for the marker")
		}
		if got := len(w.String()); got != stderrTail {
			t.Errorf("kept %d bytes, want %d", got, stderrTail)
		}
	})
}

// certFleet starts one host whose sshd serves the host certificate at
// cert, once certify has put one there, and makes a CA key, ca, in dir.
func certFleet(t *testing.T) (f *sshd.Fleet, dir, cert, ca string) {
	t.Helper()
	dir = t.TempDir()
	cert = filepath.Join(dir, "host-cert.pub")
	f = sshd.StartFleet(t, 1, sshd.Options{Config: []string{"HostCertificate " + cert}})
	ca = filepath.Join(dir, "ca")
	keygen(t, ca, "")
	return f, dir, cert, ca
}

// certify signs the host key of f's host with signer (ssh-keygen -s, with
// opts), installs the certificate at cert and restarts the host with it.
func certify(t *testing.T, f *sshd.Fleet, cert, signer string, opts ...string) {
	t.Helper()
	pub := f.Hosts[0].HostKey
	args := append([]string{"-q", "-s", signer, "-I", "host0", "-h"}, opts...)
	// Validity dates (-V) in UTC, as refusals say them.
	sign := exec.Command("ssh-keygen", append(args, pub)...)
	sign.Env = append(os.Environ(), "TZ=UTC")
	if out, err := sign.CombinedOutput(); err != nil {
		t.Fatalf("sign the host key: %v %s", err, out)
	}
	if err := os.WriteFile(cert, []byte(readFile(t, strings.TrimSuffix(pub, ".pub")+"-cert.pub")), 0o644); err != nil {
		t.Fatal(err)
	}
	f.Stop(0)
	f.Start(0) // with its certificate
}

// TestHostCertificateAuthority: a host whose certificate a CA in
// known_hosts signed (an @cert-authority line, no line of its own) is
// accepted, as OpenSSH's ssh accepts it, not refused as a changed key.
func TestHostCertificateAuthority(t *testing.T) {
	t.Parallel()
	f, dir, cert, ca := certFleet(t)
	certify(t, f, cert, ca, "-n", "127.0.0.1")
	_, port, _ := strings.Cut(f.Hosts[0].Addr, ":")
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte("@cert-authority [127.0.0.1]:"+port+" "+strings.TrimSpace(readFile(t, ca+".pub"))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := transport(t, f, func(c *Config) { c.KnownHostsFile = kh }).Open(context.Background(), host(f, 0))
	if err != nil {
		t.Fatalf("a host vouched for by @cert-authority: %v", err)
	}
	if got := run(t, s, "echo ok"); got != "ok\n" {
		t.Errorf("got %q", got)
	}
	s.Close()

	// Another CA's line, and the host's plain key: the certificate no
	// authority vouches for falls back to its plain key, as with OpenSSH.
	other := filepath.Join(dir, "other-ca")
	keygen(t, other, "")
	line := "[127.0.0.1]:" + port + " " + strings.TrimSpace(readFile(t, f.Hosts[0].HostKey))
	if err := os.WriteFile(kh, []byte("@cert-authority [127.0.0.1]:"+port+" "+strings.TrimSpace(readFile(t, other+".pub"))+"\n"+line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = transport(t, f, func(c *Config) { c.KnownHostsFile = kh }).Open(context.Background(), host(f, 0))
	if err != nil {
		t.Fatalf("a host whose certificate another CA signed, with its plain key known: %v", err)
	}
	s.Close()

	// The CA revoked: its certificate is refused, even with the host's
	// plain key known, as OpenSSH refuses it.
	caPub := strings.TrimSpace(readFile(t, ca+".pub"))
	if err := os.WriteFile(kh, []byte("@cert-authority [127.0.0.1]:"+port+" "+caPub+"\n@revoked * "+caPub+"\n"+line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = transport(t, f, func(c *Config) { c.KnownHostsFile = kh }).Open(context.Background(), host(f, 0))
	if err == nil {
		s.Close()
		t.Fatal("a host whose certificate a revoked CA signed was accepted")
	}
	var hk *HostKeyError
	if !errors.As(err, &hk) || !hk.Revoked || hk.Authority != fingerprint(t, ca+".pub") {
		t.Fatalf("got %v, want a *HostKeyError of a revoked authority", err)
	}
	want := "ssh: host0 (" + f.Hosts[0].Addr + "): host certificate refused: its certificate authority " +
		fingerprint(t, ca+".pub") + " is marked @revoked in known_hosts; refusing to connect"
	if got := err.Error(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestHostKeyRevoked: a host whose key an @revoked line names is refused
// as the other host key refusals are, with a *HostKeyError, even when
// another line lists the same key for the host: it is no failed login.
func TestHostKeyRevoked(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	pub := strings.TrimSpace(readFile(t, f.Hosts[0].HostKey))
	_, port, _ := net.SplitHostPort(f.Hosts[0].Addr)
	tests := []struct {
		name       string
		knownHosts string
	}{
		{"revoked only", "@revoked * " + pub + "\n"},
		{"revoked and listed", "[127.0.0.1]:" + port + " " + pub + "\n@revoked * " + pub + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(kh, []byte(tt.knownHosts), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := transport(t, f, func(c *Config) { c.KnownHostsFile = kh }).Open(context.Background(), host(f, 0))
			if err == nil {
				s.Close()
				t.Fatal("a host whose key is revoked was accepted")
			}
			var hk *HostKeyError
			if !errors.As(err, &hk) || !hk.Revoked || hk.Changed || hk.Fingerprint != fingerprint(t, f.Hosts[0].HostKey) {
				t.Fatalf("got %v, want a *HostKeyError of a revoked key", err)
			}
			want := "ssh: host0 (" + f.Hosts[0].Addr + "): host key ssh-ed25519 " + fingerprint(t, f.Hosts[0].HostKey) +
				" is marked @revoked in known_hosts; refusing to connect"
			if got := err.Error(); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			if errors.Is(err, deploy.ErrUnreachable) {
				t.Errorf("host key error %v wraps ErrUnreachable", err)
			}
		})
	}
}

// TestHostCertificateRefused: a host certificate that is refused, and a
// plain key known_hosts does not hold, refuse the host saying why the
// certificate was refused; only a line with another key of the host's,
// not a CA's line, makes its key a changed one.
func TestHostCertificateRefused(t *testing.T) {
	t.Parallel()
	f, dir, cert, ca := certFleet(t)
	otherCA := filepath.Join(dir, "other-ca")
	keygen(t, otherCA, "")
	otherKey := filepath.Join(dir, "other-key")
	keygen(t, otherKey, "")
	pub := f.Hosts[0].HostKey
	_, port, _ := strings.Cut(f.Hosts[0].Addr, ":")
	caLine := "@cert-authority [127.0.0.1]:" + port + " " + strings.TrimSpace(readFile(t, ca+".pub"))
	otherLine := "[127.0.0.1]:" + port + " " + strings.TrimSpace(readFile(t, otherKey+".pub"))

	fp := fingerprint(t, pub)
	tests := []struct {
		name       string
		signer     string
		sign       []string // ssh-keygen options
		knownHosts []string
		changed    bool
		reason     string // why the certificate was refused
	}{
		{name: "expired", signer: ca, sign: []string{"-n", "127.0.0.1", "-V", "20200101:20200102"},
			knownHosts: []string{caLine}, reason: "it expired 2020-01-02 00:00:00 UTC"},
		{name: "not yet valid", signer: ca, sign: []string{"-n", "127.0.0.1", "-V", "20990101:20990102"},
			knownHosts: []string{caLine}, reason: "it is not valid before 2099-01-01 00:00:00 UTC"},
		{name: "not for this host", signer: ca, sign: []string{"-n", "db.example.com"},
			knownHosts: []string{caLine}, reason: `it is for "db.example.com", not "127.0.0.1"`},
		{name: "for many other hosts", signer: ca, sign: []string{"-n", "db1,db2,db3,db4"},
			knownHosts: []string{caLine}, reason: `it is for "db1", "db2", "db3" and 1 more, not "127.0.0.1"`},
		{name: "signed by another CA", signer: otherCA, sign: []string{"-n", "127.0.0.1"},
			knownHosts: []string{caLine}, reason: "signed by certificate authority " + fingerprint(t, otherCA+".pub") + ", which no @cert-authority line for the host names"},
		{name: "expired, another plain key known", signer: ca, sign: []string{"-n", "127.0.0.1", "-V", "20200101:20200102"},
			knownHosts: []string{caLine, otherLine}, changed: true, reason: "it expired 2020-01-02 00:00:00 UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certify(t, f, cert, tt.signer, tt.sign...)
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(kh, []byte(strings.Join(tt.knownHosts, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := transport(t, f, func(c *Config) { c.KnownHostsFile = kh }).Open(context.Background(), host(f, 0))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want a host key error")
			}
			var hk *HostKeyError
			if !errors.As(err, &hk) {
				t.Fatalf("got %v, want *HostKeyError", err)
			}
			if hk.Changed != tt.changed || hk.Certificate != tt.reason || hk.Fingerprint != fp {
				t.Errorf("got %+v, want Changed %v, Certificate %q, Fingerprint %s", *hk, tt.changed, tt.reason, fp)
			}
			want := "ssh: host0 (" + f.Hosts[0].Addr + "): host certificate refused (" + tt.reason + "), and its key ssh-ed25519 " + fp +
				" is not in known_hosts: renew the certificate, or check the key out of band and add it to known_hosts"
			if tt.changed {
				want = "ssh: host0 (" + f.Hosts[0].Addr + "): host key changed (possible man-in-the-middle): its certificate was refused (" + tt.reason +
					") and it offered ssh-ed25519 " + fp + ", which is not the key in known_hosts; refusing to connect"
			}
			if got := err.Error(); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

// TestHostCertificateQuotingADisconnect: a host certificate refused for
// a principal that reads as an SSH disconnect ("ssh: disconnect, reason
// 3: …", which a certificate may hold, as any text) refuses the host for
// its certificate, once: it is no disconnect of the host's, neither a
// key exchange it refused nor a connection sent away to try again.
func TestHostCertificateQuotingADisconnect(t *testing.T) {
	t.Parallel()
	f, dir, cert, ca := certFleet(t)
	_, port, _ := strings.Cut(f.Hosts[0].Addr, ":")
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte("@cert-authority [127.0.0.1]:"+port+" "+strings.TrimSpace(readFile(t, ca+".pub"))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	caSigner, err := ssh.ParsePrivateKey([]byte(readFile(t, ca)))
	if err != nil {
		t.Fatal(err)
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(readFile(t, f.Hosts[0].HostKey)))
	if err != nil {
		t.Fatal(err)
	}
	fp := ssh.FingerprintSHA256(hostKey)
	tests := []struct {
		name      string
		principal string
	}{
		{"key exchange failed", `ssh: disconnect, reason 3: "no matching cipher found"`},
		{"protocol version not supported", `ssh: disconnect, reason 8: "protocol 2.1 required"`},
		{"too many connections", `ssh: disconnect, reason 12: "too many connections"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// ssh-keygen -n splits principals at commas: signed here.
			c := &ssh.Certificate{Key: hostKey, CertType: ssh.HostCert, KeyId: "host0",
				ValidPrincipals: []string{tt.principal}, ValidBefore: ssh.CertTimeInfinity}
			if err := c.SignCert(rand.Reader, caSigner); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cert, ssh.MarshalAuthorizedKey(c), 0o644); err != nil {
				t.Fatal(err)
			}
			f.Stop(0)
			f.Start(0) // with its certificate
			tr := transport(t, f, func(c *Config) { c.KnownHostsFile = kh })
			pauses := 0
			tr.pause = func(context.Context, time.Duration) error {
				pauses++
				return nil
			}
			before := strings.Count(f.Log(0), "Connection from ")
			s, err := tr.Open(context.Background(), host(f, 0))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want the host's certificate refused")
			}
			var hk *HostKeyError
			if !errors.As(err, &hk) || errors.Is(err, deploy.ErrUnreachable) {
				t.Fatalf("got %v, want a *HostKeyError, not ErrUnreachable", err)
			}
			want := "ssh: host0 (" + f.Hosts[0].Addr + "): host certificate refused (it is for " + strconv.Quote(tt.principal) +
				`, not "127.0.0.1"), and its key ssh-ed25519 ` + fp +
				" is not in known_hosts: renew the certificate, or check the key out of band and add it to known_hosts"
			if got := err.Error(); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			if got := strings.Count(f.Log(0), "Connection from ") - before; got != 1 || pauses != 0 {
				t.Errorf("the host got %d connections, with %d pauses between them; want 1 and none", got, pauses)
			}
		})
	}
}

// TestKeyExchange: the client prefers ECDH on P-256 to X25519 (OpenSSH
// computes X25519 with slower code of its own), still logs in to a host
// that offers X25519 alone, and refuses SHA-1 Diffie-Hellman.
// TestOffersNoSHA1MAC: the MACs the bot offers, as a real sshd reads them
// from its key exchange offer, are the SHA-2 ones, encrypt-then-MAC first,
// and no SHA-1 one.
func TestOffersNoSHA1MAC(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true, Config: []string{"LogLevel DEBUG2"}})
	open(t, transport(t, f, nil), f, 0)
	// sshd logs the client's offer after this line, its own before it.
	_, offer, ok := strings.Cut(f.Log(0), "peer client KEXINIT proposal")
	if !ok {
		t.Fatalf("sshd log lacks the client's key exchange offer:\n%s", f.Log(0))
	}
	want := "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512"
	for _, dir := range []string{"ctos", "stoc"} {
		_, rest, ok := strings.Cut(offer, "MACs "+dir+": ")
		if !ok {
			t.Errorf("sshd log lacks the client's MACs %s", dir)
			continue
		}
		// sshd ends the lines of the login's process with its tag.
		got, _, _ := strings.Cut(rest, "\n")
		if got = strings.TrimSuffix(strings.TrimSpace(got), " [preauth]"); got != want {
			t.Errorf("MACs %s offered: got %q, want %q", dir, got, want)
		}
	}
}

func TestKeyExchange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		offered string // the host's KexAlgorithms
		want    string // the key exchange agreed, "" for a refusal
	}{
		{"P-256 over X25519", "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256", ssh.KeyExchangeECDHP256},
		{"X25519 alone", "curve25519-sha256", ssh.KeyExchangeCurve25519},
		{"SHA-1 Diffie-Hellman refused", "diffie-hellman-group14-sha1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true, Config: []string{"KexAlgorithms " + tc.offered}})
			s, err := transport(t, f, nil).Open(context.Background(), host(f, 0))
			if tc.want == "" {
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded, want a refusal")
				}
				if !strings.Contains(err.Error(), "key exchange") || errors.Is(err, deploy.ErrUnreachable) {
					t.Errorf("got %v, want a key exchange refusal, not an unreachable host", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			got := s.(*session).client.Conn.(ssh.AlgorithmsConnMetadata).Algorithms().KeyExchange
			if got != tc.want {
				t.Errorf("key exchange %s, want %s", got, tc.want)
			}
		})
	}
}

// TestAlgorithmMismatch: a host whose sshd offers no key exchange, host
// key algorithm, cipher or MAC the bot offers fails at once, named, with
// what did not match and both sides' offers, and the sshd_config keyword
// to change. It answered, so it is not unreachable; it was shown no key,
// so it is no failed login; and a mismatch of configuration does not
// put itself right, so it is not tried again.
func TestAlgorithmMismatch(t *testing.T) {
	t.Parallel()
	rsaKey := filepath.Join(t.TempDir(), "rsa_hostkey")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsaKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	tests := []struct {
		name   string
		config []string // the host's sshd_config lines
		want   string   // the error after the host's name and address
	}{
		{"key exchange", []string{"KexAlgorithms diffie-hellman-group14-sha1"},
			"no common key exchange algorithm (sshd_config KexAlgorithms): the host offers diffie-hellman-group14-sha1; we offer " +
				"mlkem768x25519-sha256, ecdh-sha2-nistp256, curve25519-sha256, curve25519-sha256@libssh.org, ecdh-sha2-nistp384, " +
				"ecdh-sha2-nistp521, diffie-hellman-group14-sha256, diffie-hellman-group16-sha512"},
		{"host key", []string{"HostKey " + strconv.Quote(rsaKey), "HostKeyAlgorithms ssh-rsa"},
			"no common host key algorithm (sshd_config HostKeyAlgorithms): the host offers ssh-rsa; we offer ssh-ed25519, " +
				strings.Join(hostCertAlgorithms, ", ") + ", ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, rsa-sha2-512, rsa-sha2-256"},
		{"cipher", []string{"Ciphers aes256-cbc"},
			"no common cipher (sshd_config Ciphers): the host offers aes256-cbc; we offer " + strings.Join(ciphers, ", ")},
		{"MAC", []string{"Ciphers aes128-ctr", "MACs umac-64@openssh.com"},
			"no common MAC (sshd_config MACs): the host offers umac-64@openssh.com; we offer " +
				"hmac-sha2-256-etm@openssh.com, hmac-sha2-512-etm@openssh.com, hmac-sha2-256, hmac-sha2-512"},
		// A MAC only matters with a cipher that is not AEAD: the host
		// takes CTR alone, so that its SHA-1 MAC is chosen or nothing.
		{"SHA-1 MAC refused", []string{"Ciphers aes128-ctr", "MACs hmac-sha1"},
			"no common MAC (sshd_config MACs): the host offers hmac-sha1; we offer " +
				"hmac-sha2-256-etm@openssh.com, hmac-sha2-512-etm@openssh.com, hmac-sha2-256, hmac-sha2-512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true, Config: tt.config})
			tr := transport(t, f, nil)
			pauses := 0
			tr.pause = func(context.Context, time.Duration) error {
				pauses++
				return nil
			}
			before := strings.Count(f.Log(0), "Connection from ")
			s, err := tr.Open(context.Background(), host(f, 0))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want a refusal")
			}
			if want := "ssh: " + f.Hosts[0].Name + " (" + f.Hosts[0].Addr + "): " + tt.want; err.Error() != want {
				t.Errorf("got %q, want %q", err.Error(), want)
			}
			var ne *ssh.AlgorithmNegotiationError
			if errors.Is(err, deploy.ErrUnreachable) || !errors.As(err, &ne) {
				t.Errorf("got %v, want an *ssh.AlgorithmNegotiationError that does not wrap deploy.ErrUnreachable", err)
			}
			if got := strings.Count(f.Log(0), "Connection from ") - before; pauses != 0 || got != 1 {
				t.Errorf("the host got %d connections, with %d pauses between them; want 1 and none", got, pauses)
			}
		})
	}
}

// TestSilentHostSaysItDidNotAnswer: a host that accepts the TCP connection
// and then sends nothing (a hung machine whose kernel still answers, a
// stopped sshd, a network that drops what follows the handshake) is
// unreachable for want of an answer within ConnectTimeout. The bot closed
// that connection at its deadline, not the host: it is not reported as a
// host that closed it before its banner, which points at its sshd's
// MaxStartups, nor tried again.
func TestSilentHostSaysItDidNotAnswer(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	t.Cleanup(func() { f.Resume(0) })
	silent, accepted := sshd.Silent(t)
	tr := transport(t, f, func(c *Config) { c.ConnectTimeout = time.Second })
	tests := []struct {
		name  string
		host  func() deploy.Host
		tries func() int // connections the host accepted, when it counts them
	}{
		{"accepts and never answers", func() deploy.Host { return deploy.Host{Name: "web9", Address: silent} }, accepted},
		{"sshd stopped", func() deploy.Host { f.Pause(0); return host(f, 0) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host()
			_, err := tr.Open(context.Background(), h)
			if !errors.Is(err, deploy.ErrUnreachable) {
				t.Fatalf("Open %s: got %v, want ErrUnreachable", h.Name, err)
			}
			if got := err.Error(); !strings.Contains(got, "no answer within 1s") || strings.Contains(got, "MaxStartups") {
				t.Errorf("Open %s: got %q, want it to say there was no answer within 1s, not that the host closed the connection", h.Name, got)
			}
			if tt.tries != nil {
				if n := tt.tries(); n != 1 {
					t.Errorf("the host got %d connections, want 1: one that never answered is not tried again", n)
				}
			}
		})
	}
}

// TestTimeoutOfTheCaller: a step cut by a time limit of its caller's that
// is shorter than its step timeout (status's, a recovery's) says so, not
// that the step timed out after its step timeout, which it never reached.
func TestTimeoutOfTheCaller(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	s := open(t, transport(t, f, nil), f, 0)
	tests := []struct {
		name  string
		stdin bool // a script fed on stdin runs in a session of its own
	}{
		{name: "in the shell"},
		{name: "with stdin", stdin: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			cmd := deploy.Command{Script: "sleep 20", Timeout: 5 * time.Minute}
			if tt.stdin {
				cmd.Script = "cat >/dev/null; sleep 20"
				cmd.Stdin = strings.NewReader("x")
			}
			_, err := s.Run(ctx, cmd)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want context.DeadlineExceeded", err)
			}
			if msg := err.Error(); strings.Contains(msg, "timed out after 5m0s") || !strings.Contains(msg, "time limit of its caller") {
				t.Errorf("got %q, want it to name its caller's time limit, not the step timeout", msg)
			}
		})
	}
}

// TestRunUnmarksHostText: what a host writes, on standard output and in
// the standard error an ExitError carries, loses the marks of the bot's
// suggested commands (see suggest) and keeps the rest, in the shell and
// in a session of its own: quoted in a reply, a command the host wrote
// between them would pass for the bot's suggestion.
func TestRunUnmarksHostText(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	s := open(t, transport(t, f, nil), f, 0)
	// printf's octal escapes: the script itself holds no mark.
	const forged = `printf 'run \356\200\200rollback web prod\356\200\201\n'`
	tests := []struct {
		name  string
		stdin io.Reader
	}{
		{name: "in the shell"},
		{name: "in a session", stdin: strings.NewReader("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := s.Run(context.Background(), deploy.Command{Script: forged + "; " + forged + " >&2; exit 3", Stdin: tt.stdin})
			var exit *deploy.ExitError
			if !errors.As(err, &exit) || exit.Code != 3 {
				t.Fatalf("got %v, want exit status 3", err)
			}
			const want = "run rollback web prod"
			if got := strings.TrimSpace(string(out)); got != want {
				t.Errorf("stdout: got %q, want %q", got, want)
			}
			if got := strings.TrimSpace(exit.Stderr); got != want {
				t.Errorf("stderr: got %q, want %q", got, want)
			}
		})
	}
}

// TestKnownHostsErrorUnmarked: a known_hosts line x/crypto cannot parse
// is quoted in its error as written; the error, at New and at an Open
// after the file changed, reaches replies without the marks of the bot's
// suggested commands.
func TestKnownHostsErrorUnmarked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	keygen(t, key, "")
	kh := filepath.Join(dir, "known_hosts")
	bad := "|\ue000status\ue001|c2FsdA==|aGFzaA== " + readFile(t, key+".pub")
	closed, err := ports.Addr()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
	}{
		{name: "New", do: func() error {
			if err := os.WriteFile(kh, []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := New(Config{User: "deploy", KeyFile: key, KnownHostsFile: kh})
			return err
		}},
		{name: "Open", do: func() error {
			if err := os.WriteFile(kh, []byte("# none yet\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tr, err := New(Config{User: "deploy", KeyFile: key, KnownHostsFile: kh})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(kh, []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := tr.Open(context.Background(), deploy.Host{Name: "web1", Address: closed})
			if err == nil {
				s.Close()
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil {
				t.Fatal("got no error")
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\ue000\ue001") {
				t.Errorf("got %q, want no marks in it", msg)
			}
			if want := "hash type status"; !strings.Contains(msg, want) {
				t.Errorf("got %q, want it to say %q", msg, want)
			}
		})
	}
}
