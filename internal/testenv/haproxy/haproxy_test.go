package haproxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/procs"
)

// showInfo sends `show info` to p's stats socket and returns the answer.
func showInfo(t *testing.T, p *Proxy) string {
	t.Helper()
	return command(t, p, "show info")
}

// command sends cmd to p's stats socket and returns the answer.
func command(t *testing.T, p *Proxy, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout(p.StatsNetwork(), p.StatsAddr(), time.Second)
	if err != nil {
		t.Fatalf("stats socket: %v", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		t.Fatalf("stats socket: %v", err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("stats socket: %v", err)
	}
	return string(b)
}

func TestProxyForwardsAndAnswersOnItsStatsSocket(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from app "+r.URL.Path)
	}))
	defer app.Close()
	for _, unix := range []bool{false, true} {
		var pid int
		t.Run("unix="+strconv.FormatBool(unix), func(t *testing.T) {
			p := Start(t, Options{Servers: map[string]string{"app1": app.Listener.Addr().String()}, UnixSocket: unix})
			pid = p.PID()
			if want := map[bool]string{false: "tcp", true: "unix"}[unix]; p.StatsNetwork() != want {
				t.Errorf("got stats network %s, want %s", p.StatsNetwork(), want)
			}
			if got := showInfo(t, p); !strings.Contains(got, "Name: HAProxy") {
				t.Errorf("show info: got %q, want HAProxy's info", got)
			}
			if p.Backend() != "app" {
				t.Errorf("got backend %q, want app", p.Backend())
			}
			// The server is up once its first health check passes.
			deadline := time.Now().Add(5 * time.Second)
			for {
				resp, err := http.Get(p.URL() + "/hello")
				if err == nil {
					body, _ := io.ReadAll(resp.Body) // a short body fails the comparison below
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						if got, want := string(body), "from app /hello"; got != want {
							t.Errorf("got body %q, want %q", got, want)
						}
						break
					}
					err = errorString(resp.Status)
				}
				if time.Now().After(deadline) {
					t.Fatalf("GET through haproxy: %v\nlog:\n%s", err, p.Log())
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
		if procs.Alive(pid) {
			t.Errorf("haproxy (pid %d) still runs after its test", pid)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Logf("kill %d: %v", pid, err)
			}
		}
	}
}

// TestSlowHealthAnswerIsNotATimeout starts a server whose health check
// answers 200 after longer than the 200 ms between checks, as a server
// built with -race may on two busy cores: HAProxy must count it up.
func TestSlowHealthAnswerIsNotATimeout(t *testing.T) {
	const answerAfter = 300 * time.Millisecond
	var checks atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			checks.Add(1)
			time.Sleep(answerAfter) // a slow server, not a wait
		}
	}))
	defer app.Close()
	p := Start(t, Options{Servers: map[string]string{"app1": app.Listener.Addr().String()}})

	// HAProxy checks one server at a time: once the third check has
	// begun, the first two have ended.
	deadline := time.Now().Add(10 * time.Second)
	for checks.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("haproxy sent %d health checks within 10s, want 3", checks.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := command(t, p, "show stat app 4 -1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "# ") {
		t.Fatalf("show stat app 4 -1: got %q, want a header and one server", out)
	}
	row := map[string]string{}
	values := strings.Split(lines[1], ",")
	for i, name := range strings.Split(strings.TrimPrefix(lines[0], "# "), ",") {
		if i < len(values) {
			row[name] = values[i]
		}
	}
	// "* " marks a check still running; the status is the last one's.
	if got, want := strings.TrimPrefix(row["check_status"], "* "), "L7OK"; got != want {
		t.Errorf("got check status %q (%s), want %s", got, row["last_chk"], want)
	}
	if got, want := row["status"], "UP"; got != want {
		t.Errorf("got status %q, want %s", got, want)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestConfigHasWhatZeroFailedRequestsNeed(t *testing.T) {
	p := &Proxy{port: 8080, statsTCP: 9999}
	cfg := p.config(Options{Servers: map[string]string{"b": "127.0.0.1:2", "a": "127.0.0.1:1"}}, []string{"a", "b"})
	for _, want := range []string{
		"stats socket ipv4@127.0.0.1:9999 level admin",
		"option redispatch",
		"retries 3",
		"option httpchk GET /health",
		"http-check expect status 200",
		"default-server inter 200ms fall 2 rise 1",
		"timeout check 2s",
		"bind 127.0.0.1:8080",
		"server a 127.0.0.1:1 check\n    server b 127.0.0.1:2 check",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:80": true, "127.0.1.2:80": true, "[::1]:80": true,
		"192.0.2.1:80": false, "example.com:80": false, "0.0.0.0:80": false,
	} {
		if err := loopback(addr); (err == nil) != ok {
			t.Errorf("loopback(%q): got %v, want ok=%v", addr, err, ok)
		}
	}
}

// TestAPortTakenByAnotherHAProxyIsRefused: haproxy binds with
// SO_REUSEPORT unless told not to, so a second haproxy given a port the
// first holds (freePort's port taken between its check and the bind, as
// by a test in another package) bound it too and started, and the kernel
// then split connections between them: a stats socket command answered
// with "HTTP/1.1 400 Bad request" by the other's frontend. The bind must
// fail, for Start to try other ports.
func TestAPortTakenByAnotherHAProxyIsRefused(t *testing.T) {
	first := Start(t, Options{})
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy"
	}
	second := &Proxy{t: t, dir: t.TempDir()}
	second.cfg = filepath.Join(second.dir, "haproxy.cfg")
	second.log = filepath.Join(second.dir, "haproxy.log")
	t.Cleanup(second.cleanup)
	if second.statsTCP, err = freePort(); err != nil {
		t.Fatal(err)
	}
	second.port = first.statsTCP // its frontend on the first's stats port
	if err := os.WriteFile(second.cfg, []byte(second.config(Options{}, nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := second.start(bin); err == nil {
		t.Fatalf("a second haproxy started with its frontend on the first's stats port %d, want its bind refused", first.statsTCP)
	}
}
