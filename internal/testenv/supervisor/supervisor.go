// Package supervisor runs test programs under a real supervisord, the
// process manager a fleet host restarts its app with, and stops it and its
// programs when the test ends.
//
// Every Supervisor is one `supervisord -n` child process with its own
// config, control socket, logs and programs; supervisorctl talks to it
// through that config only, never to a supervisord the machine may run.
// A missing supervisord or supervisorctl fails the test with the command
// that installs it.
package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/shell"
)

// startTimeout bounds how long supervisord may take to answer
// `supervisorctl status`.
const startTimeout = 15 * time.Second

// missing is the message of a test that cannot find supervisord.
const missing = "%s not found: install it with `apt-get install -y supervisor` (or run `make deps`)"

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Program is one program supervisord runs. It is started with
// supervisord and never restarted on its own (autorestart=false); it is
// stopped with SIGTERM, then SIGKILL after 10 s.
type Program struct {
	// Name is the program's name for supervisorctl: letters, digits, '_'
	// and '-'.
	Name string
	// Command is the program and its arguments. The program must not
	// daemonise.
	Command []string
	// Dir is its working directory; empty means the supervisor's
	// temporary directory.
	Dir string
	// Env is added to the environment supervisord passes on (the test's
	// own environment).
	Env map[string]string
}

// Supervisor is a running supervisord. Its methods may be called from any
// goroutine.
type Supervisor struct {
	t      testing.TB
	dir    string
	cfg    string
	log    string
	ctl    string
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// Start starts supervisord with programs and returns once supervisorctl
// can talk to it; programs are then started or starting. supervisord and
// its programs are stopped when the test ends.
func Start(t testing.TB, programs []Program) *Supervisor {
	t.Helper()
	bin := look(t, "supervisord")
	ctl := look(t, "supervisorctl")
	s := &Supervisor{t: t, dir: t.TempDir(), ctl: ctl}
	s.cfg = filepath.Join(s.dir, "supervisord.conf")
	s.log = filepath.Join(s.dir, "supervisord.log")
	conf, err := s.config(shortDir(t, s.dir), programs)
	if err != nil {
		t.Fatalf("supervisor: %v", err)
	}
	if err := os.WriteFile(s.cfg, []byte(conf), 0o600); err != nil {
		t.Fatalf("supervisor: %v", err)
	}
	cmd := exec.Command(bin, "-c", s.cfg, "-n")
	out, err := os.Create(filepath.Join(s.dir, "supervisord.out"))
	if err != nil {
		t.Fatalf("supervisor: %v", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("supervisor: start supervisord: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		// Reaps the child; its exit status does not matter.
		_ = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.cleanup)
	if err := s.wait(); err != nil {
		t.Fatalf("supervisor: %v; output: %s; log: %s", err, tail(out.Name(), 2048), tail(s.log, 2048))
	}
	return s
}

// Ctl runs supervisorctl against this supervisord with args, such as
// "status" or "stop", "app1", and returns its trimmed output. A non-zero
// exit is an error that includes the output (`status` exits 3 when a
// program is not running).
func (s *Supervisor) Ctl(args ...string) (string, error) {
	cmd := exec.Command(s.ctl, append([]string{"-c", s.cfg}, args...)...)
	b, err := cmd.CombinedOutput()
	out := strings.TrimSpace(string(b))
	if err != nil {
		return out, fmt.Errorf("supervisorctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// ConfigPath is the path of supervisord's config, for
// `supervisorctl -c PATH`.
func (s *Supervisor) ConfigPath() string { return s.cfg }

// Restart restarts program name with `supervisorctl restart`: it sends
// SIGTERM, waits for the program to exit (at most 10 s, then SIGKILL)
// and starts it again. The error includes supervisorctl's output and the
// tail of the program's log.
func (s *Supervisor) Restart(name string) error {
	out, err := s.Ctl("restart", name)
	if err == nil && (strings.Contains(out, "ERROR") || !strings.Contains(out, name+": started")) {
		err = errors.New(out)
	}
	if err != nil {
		return fmt.Errorf("restart %s: %w; log: %s", name, err, tail(filepath.Join(s.dir, name+".log"), 1024))
	}
	return nil
}

// ProgramLog returns what program name wrote to stdout and stderr.
func (s *Supervisor) ProgramLog(name string) string {
	b, err := os.ReadFile(filepath.Join(s.dir, name+".log"))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// Log returns supervisord's own log.
func (s *Supervisor) Log() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (s *Supervisor) config(sockDir string, programs []Program) (string, error) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	sock := filepath.Join(sockDir, "supervisor.sock")
	for _, p := range []string{s.dir, sock} {
		if err := plain(p); err != nil {
			return "", err
		}
	}
	w("[unix_http_server]")
	w("file = %s", escape(sock))
	w("chmod = 0700")
	w("")
	w("[supervisord]")
	w("logfile = %s", escape(s.log))
	w("pidfile = %s", escape(filepath.Join(s.dir, "supervisord.pid")))
	w("childlogdir = %s", escape(s.dir))
	w("directory = %s", escape(s.dir))
	w("loglevel = info")
	w("")
	w("[rpcinterface:supervisor]")
	w("supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface")
	w("")
	w("[supervisorctl]")
	w("serverurl = unix://%s", escape(sock))
	seen := map[string]bool{}
	for _, p := range programs {
		if !nameRE.MatchString(p.Name) || seen[p.Name] {
			return "", fmt.Errorf("program name %q: want a unique name of letters, digits, '_' and '-'", p.Name)
		}
		seen[p.Name] = true
		if len(p.Command) == 0 {
			return "", fmt.Errorf("program %s has no command", p.Name)
		}
		for _, a := range p.Command {
			if err := plain(a); err != nil {
				return "", fmt.Errorf("program %s: %w", p.Name, err)
			}
		}
		dir := p.Dir
		if dir == "" {
			dir = s.dir
		}
		if err := plain(dir); err != nil {
			return "", fmt.Errorf("program %s: %w", p.Name, err)
		}
		w("")
		w("[program:%s]", p.Name)
		// supervisord splits command like a POSIX shell (shlex) after
		// expanding %(name)s: shell quoting, then doubled '%'.
		w("command = %s", escape(shell.Join(p.Command...)))
		w("directory = %s", escape(dir))
		if len(p.Env) > 0 {
			env, err := environment(p.Env)
			if err != nil {
				return "", fmt.Errorf("program %s: %w", p.Name, err)
			}
			w("environment = %s", env)
		}
		w("autostart = true")
		w("autorestart = false")
		w("startsecs = 0")
		w("startretries = 0")
		w("stopsignal = TERM")
		w("stopwaitsecs = 10")
		w("stopasgroup = true")
		w("killasgroup = true")
		w("redirect_stderr = true")
		w("stdout_logfile = %s", escape(filepath.Join(s.dir, p.Name+".log")))
	}
	return b.String(), nil
}

// environment renders env as supervisord's KEY="value",… list.
func environment(env map[string]string) (string, error) {
	keys := make([]string, 0, len(env))
	for k := range env {
		if !envRE.MatchString(k) {
			return "", fmt.Errorf("invalid environment variable name %q", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := env[k]
		if err := plain(v); err != nil {
			return "", fmt.Errorf("environment %s: %w", k, err)
		}
		// supervisord reads the list with a non-POSIX shlex, which has no
		// escapes inside quotes, then strips quotes off both ends of the
		// value: quote with the kind v lacks, and refuse what cannot be
		// written.
		q := `"`
		if strings.Contains(v, `"`) {
			q = `'`
		}
		if strings.Contains(v, q) || strings.Trim(v, `'"`) != v {
			return "", fmt.Errorf("environment %s: %q cannot be written to a supervisord config", k, v)
		}
		parts[i] = k + "=" + q + escape(v) + q
	}
	return strings.Join(parts, ","), nil
}

// escape doubles '%', which supervisord's config would expand.
func escape(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// plain refuses what an INI value cannot hold: line breaks, and " ;" or
// " #", which start an inline comment.
func plain(s string) error {
	if strings.ContainsAny(s, "\r\n\x00") || strings.Contains(s, " ;") || strings.Contains(s, " #") ||
		strings.Contains(s, "\t;") || strings.Contains(s, "\t#") {
		return fmt.Errorf("%q cannot be written to a supervisord config", s)
	}
	return nil
}

// wait polls `supervisorctl status` until it reaches supervisord, which
// exits, or startTimeout passes. status exits 3 while a program is not
// running; only a failure to connect counts as not ready.
func (s *Supervisor) wait() error {
	deadline := time.Now().Add(startTimeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("supervisord exited before answering")
		default:
		}
		out, err := s.Ctl("status")
		if err == nil || !unreachable(out) {
			return nil
		}
		last = out
		select {
		case <-s.exited:
			return errors.New("supervisord exited before answering")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("supervisorctl status got no answer within %s: %s", startTimeout, last)
}

// unreachable tells whether supervisorctl's output says it could not
// reach supervisord.
func unreachable(out string) bool {
	for _, s := range []string{"no such file", "refused connection", "Connection refused", "SHUTDOWN_STATE"} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return out == ""
}

// cleanup stops the programs through supervisord (`supervisorctl
// shutdown` stops them as their config says), then makes sure supervisord
// is gone by killing it by its PID.
func (s *Supervisor) cleanup() {
	s.once.Do(func() {
		if s.t.Failed() {
			s.t.Logf("supervisor: log (tail):\n%s", tail(s.log, 2048))
		}
		if out, err := s.Ctl("shutdown"); err != nil {
			s.t.Logf("supervisor: %v: %s", err, out)
		}
		select {
		case <-s.exited:
			return
		case <-time.After(15 * time.Second):
		}
		_ = s.cmd.Process.Signal(syscall.SIGKILL) // it may have exited just now
		<-s.exited
	})
}

func look(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf(missing, name)
	return ""
}

// shortDir returns dir, or a new temporary directory removed when the test
// ends if a socket path under dir could exceed the 108 bytes of
// sun_path.
func shortDir(t testing.TB, dir string) string {
	if len(dir) < 80 {
		return dir
	}
	d, err := os.MkdirTemp("", "sv")
	if err != nil {
		t.Fatalf("supervisor: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// tail returns the last n bytes of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
