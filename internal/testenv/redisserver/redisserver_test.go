package redisserver_test

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// do sends one inline command to addr and returns the first line of the
// reply.
func do(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "%s\r\n", cmd); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimSpace(line)
}

func TestStartRestart(t *testing.T) {
	srv := redisserver.Start(t)
	if strings.HasSuffix(srv.Addr(), ":6379") {
		t.Fatalf("Addr: got %s, want a port other than the default", srv.Addr())
	}
	if want := "redis://" + srv.Addr() + "/0"; srv.URL() != want {
		t.Errorf("URL: got %q, want %q", srv.URL(), want)
	}
	if got := do(t, srv.Addr(), "SET k v"); got != "+OK" {
		t.Fatalf("SET: got %q", got)
	}
	pid := srv.PID()
	srv.Restart(t)
	if srv.PID() == pid || srv.PID() == 0 {
		t.Errorf("PID after Restart: got %d, want a new process (was %d)", srv.PID(), pid)
	}
	// Without AppendOnly the data is gone.
	if got := do(t, srv.Addr(), "EXISTS k"); got != ":0" {
		t.Errorf("EXISTS after Restart: got %q, want :0", got)
	}
}

func TestAppendOnly(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{AppendOnly: true})
	if got := do(t, srv.Addr(), "SET k v"); got != "+OK" {
		t.Fatalf("SET: got %q", got)
	}
	srv.Kill()
	if _, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		t.Error("dial after Kill: got a connection, want refused")
	}
	srv.Restart(t)
	if got := do(t, srv.Addr(), "EXISTS k"); got != ":1" {
		t.Errorf("EXISTS after Kill and Restart: got %q, want :1", got)
	}
}

func TestPassword(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{Password: "pw"})
	if want := "redis://default:pw@" + srv.Addr() + "/0"; srv.URL() != want {
		t.Errorf("URL: got %q, want %q", srv.URL(), want)
	}
	if got := do(t, srv.Addr(), "GET k"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("GET without AUTH: got %q, want NOAUTH", got)
	}
}

func TestPause(t *testing.T) {
	srv := redisserver.Start(t)
	srv.Pause()
	c, err := net.DialTimeout("tcp", srv.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err == nil {
		t.Errorf("PING to a paused server: got %q, want no answer", line)
	}
	srv.Resume()
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || strings.TrimSpace(line) != "+PONG" {
		t.Errorf("PING after Resume: got %q, %v, want +PONG", line, err)
	}
}

// fakeTB records a fatal failure instead of failing the test.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	failed string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatal(args ...any) {
	f.mu.Lock()
	f.failed = fmt.Sprint(args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) { f.Fatal(fmt.Sprintf(format, args...)) }

func TestMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		redisserver.Start(f)
	}()
	<-done
	want := "redis-server not found: install it with `apt-get install -y redis-server` (or run `make deps`)"
	if f.failed != want {
		t.Errorf("Start without redis-server: got failure %q, want %q", f.failed, want)
	}
}
