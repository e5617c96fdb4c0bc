// Package haproxy starts a real HAProxy on loopback in front of a test's
// servers, with its runtime API (stats socket) at level admin, and stops
// it when the test ends.
//
// The config is the one a zero-failed-request rolling restart needs:
// HTTP health checks every 200 ms (GET /health, expect 200) that take a
// server out after two failures and back after one success, each allowed
// 2 s to answer (without `timeout check` HAProxy would fail any answer
// slower than the 200 ms between checks, as a test server built with
// -race gives on busy cores, and take a healthy server out), three retries
// and `option redispatch`, so a request that meets a refused connection is
// sent to another server instead of failing.
//
// A missing haproxy fails the test with the command that installs it.
package haproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/ports"
)

// startTimeout bounds how long haproxy may take to accept on its frontend
// and answer on its stats socket.
const startTimeout = 10 * time.Second

// missing is the message of a test that cannot find haproxy.
const missing = "haproxy not found: install it with `apt-get install -y haproxy` (or run `make deps`)"

// backend is the name of the one backend.
const backend = "app"

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Options tunes a proxy. The zero value gives a proxy with an empty
// backend and its stats socket on a loopback TCP port.
type Options struct {
	// Servers maps a server name (letters, digits, '.', '_', '-') to the
	// loopback host:port it forwards to. Every server is health checked.
	Servers map[string]string
	// UnixSocket binds the stats socket to a unix socket in a temporary
	// directory instead of 127.0.0.1:port.
	UnixSocket bool
	// Backend holds extra lines for the backend section, such as
	// "balance leastconn".
	Backend []string
	// SocketLevel is the stats socket's level: admin (the default),
	// operator or user.
	SocketLevel string
}

// Proxy is a running haproxy. Its methods may be called from any goroutine.
type Proxy struct {
	t        testing.TB
	dir      string
	cfg      string
	log      string
	port     int
	statsTCP int    // stats port, or 0 with a unix socket
	statsSck string // stats unix socket path, or ""
	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

// Start starts haproxy in front of opt.Servers and returns once its
// frontend accepts connections and its stats socket answers `show info`.
// It is killed when the test ends.
func Start(t testing.TB, opt Options) *Proxy {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr != nil {
			t.Fatal(missing)
		}
		bin = "/usr/sbin/haproxy"
	}
	names := make([]string, 0, len(opt.Servers))
	for name, addr := range opt.Servers {
		if !nameRE.MatchString(name) {
			t.Fatalf("haproxy: invalid server name %q", name)
		}
		if err := loopback(addr); err != nil {
			t.Fatalf("haproxy: server %s: %v", name, err)
		}
		names = append(names, name)
	}
	slices.Sort(names)

	p := &Proxy{t: t, dir: t.TempDir()}
	p.cfg = filepath.Join(p.dir, "haproxy.cfg")
	p.log = filepath.Join(p.dir, "haproxy.log")
	if opt.UnixSocket {
		p.statsSck = filepath.Join(shortDir(t, p.dir), "stats.sock")
	}
	t.Cleanup(p.cleanup)
	// A free port can be taken by someone else before haproxy binds it:
	// try a few.
	for range 3 {
		if p.port, err = freePort(); err != nil {
			t.Fatalf("haproxy: %v", err)
		}
		if !opt.UnixSocket {
			if p.statsTCP, err = freePort(); err != nil {
				t.Fatalf("haproxy: %v", err)
			}
		}
		if err = os.WriteFile(p.cfg, []byte(p.config(opt, names)), 0o600); err != nil {
			t.Fatalf("haproxy: %v", err)
		}
		if err = p.start(bin); err == nil {
			return p
		}
	}
	t.Fatalf("haproxy: %v", err)
	return nil
}

// URL is the frontend's base URL, http://127.0.0.1:port.
func (p *Proxy) URL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port))
}

// StatsAddr is where the stats socket listens: host:port, or the path of
// the unix socket with Options.UnixSocket.
func (p *Proxy) StatsAddr() string {
	if p.statsSck != "" {
		return p.statsSck
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.statsTCP))
}

// StatsNetwork is "unix" with Options.UnixSocket and "tcp" otherwise.
func (p *Proxy) StatsNetwork() string {
	if p.statsSck != "" {
		return "unix"
	}
	return "tcp"
}

// Backend is the name of the backend holding Options.Servers.
func (p *Proxy) Backend() string { return backend }

// PID is haproxy's process id.
func (p *Proxy) PID() int { return p.cmd.Process.Pid }

// ConfigPath is the path of the generated config.
func (p *Proxy) ConfigPath() string { return p.cfg }

// Log returns what haproxy wrote: its warnings (servers going up and
// down) and a line for every request that failed (option httplog with
// dontlog-normal).
func (p *Proxy) Log() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (p *Proxy) config(opt Options, names []string) string {
	stats := "ipv4@127.0.0.1:" + strconv.Itoa(p.statsTCP)
	if p.statsSck != "" {
		stats = p.statsSck + " mode 600"
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("global")
	level := opt.SocketLevel
	if level == "" {
		level = "admin"
	}
	w("    stats socket %s level %s", stats, level)
	w("    maxconn 4096")
	// Without it haproxy binds with SO_REUSEPORT, and a port freePort
	// found free but another haproxy took meanwhile would be shared with
	// it, the kernel splitting connections between the two, rather than
	// refused and tried again.
	w("    noreuseport")
	w("    log stderr format raw local0 info")
	w("")
	w("defaults")
	w("    mode http")
	w("    log global")
	w("    option httplog")
	w("    option dontlog-normal")
	w("    timeout connect 1s")
	w("    timeout client 10s")
	w("    timeout server 10s")
	w("    timeout check 2s")
	w("    option redispatch")
	w("    retries 3")
	w("    option httpchk GET /health")
	w("    http-check expect status 200")
	w("    default-server inter 200ms fall 2 rise 1")
	w("")
	w("frontend fe")
	w("    bind 127.0.0.1:%d", p.port)
	w("    default_backend %s", backend)
	w("")
	w("backend %s", backend)
	for _, l := range opt.Backend {
		w("    %s", l)
	}
	for _, name := range names {
		w("    server %s %s check", name, opt.Servers[name])
	}
	return b.String()
}

// start runs haproxy and waits until it serves.
func (p *Proxy) start(bin string) error {
	logf, err := os.Create(p.log)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-f", p.cfg, "-db")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start haproxy: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		// Reaps the child; its exit status does not matter.
		_ = cmd.Wait()
		close(exited)
	}()
	if err := p.wait(exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("haproxy (frontend %s, stats %s): %w; log: %s", p.URL(), p.StatsAddr(), err, tail(p.log, 2048))
	}
	p.cmd, p.exited = cmd, exited
	return nil
}

// wait polls until the frontend accepts and the stats socket answers
// `show info`, haproxy exits, or startTimeout passes.
func (p *Proxy) wait(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited before serving")
		default:
		}
		if last = p.probe(); last == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before serving")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("not serving within %s: %v", startTimeout, last)
}

func (p *Proxy) probe() error {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)), time.Second)
	if err != nil {
		return fmt.Errorf("frontend: %w", err)
	}
	c.Close()
	s, err := net.DialTimeout(p.StatsNetwork(), p.StatsAddr(), time.Second)
	if err != nil {
		return fmt.Errorf("stats socket: %w", err)
	}
	defer s.Close()
	if err := s.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(s, "show info\n"); err != nil {
		return fmt.Errorf("stats socket: %w", err)
	}
	out, err := io.ReadAll(s)
	if err != nil {
		return fmt.Errorf("stats socket: %w", err)
	}
	if !bytes.Contains(out, []byte("Name: HAProxy")) {
		return fmt.Errorf("stats socket answered show info with %q", out)
	}
	return nil
}

func (p *Proxy) cleanup() {
	if p.t.Failed() {
		p.t.Logf("haproxy: log (tail):\n%s", tail(p.log, 4096))
	}
	p.stopOnce.Do(func() {
		if p.cmd == nil {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGKILL) // it may have exited
		<-p.exited
	})
}

// loopback refuses an address outside 127.0.0.0/8 and ::1: tests send no
// traffic off the machine.
func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	return nil
}

// shortDir returns dir, or a new temporary directory removed when the test
// ends if a socket path under dir could exceed the 108 bytes of
// sun_path.
func shortDir(t testing.TB, dir string) string {
	if len(dir) < 80 {
		return dir
	}
	d, err := os.MkdirTemp("", "hap")
	if err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// freePort returns a loopback TCP port that was free a moment ago.
// freePort is a port for the server to bind (see package ports).
func freePort() (int, error) { return ports.Free() }

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
