package haproxy_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/haproxy"
	haproxytest "github.com/switchman-bot/switchman/internal/testenv/haproxy"
)

// fakeSocket is a Dialer to an in-memory stats socket that answers each
// command with answer(command) and closes, as HAProxy does. It counts
// dials and records the commands it received.
type fakeSocket struct {
	dials    atomic.Int32
	commands chan string
	answer   func(cmd string) string
}

func newFakeSocket(answer func(cmd string) string) *fakeSocket {
	return &fakeSocket{commands: make(chan string, 100), answer: answer}
}

func (f *fakeSocket) dial(ctx context.Context) (net.Conn, error) {
	f.dials.Add(1)
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		line, err := bufio.NewReader(server).ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimSuffix(line, "\n")
		f.commands <- cmd
		if f.answer != nil {
			io.WriteString(server, f.answer(cmd)) // the client may have gone
		}
	}()
	return client, nil
}

func TestNamesThatCouldInjectACommandAreRefused(t *testing.T) {
	bad := []string{"app\nshutdown", "a;b", "", "a b", "app/app1", "app\rx", "$(id)", "../../etc/passwd", "app\x00"}
	for _, name := range bad {
		calls := map[string]func(c *haproxy.Client) error{
			"SetState backend": func(c *haproxy.Client) error {
				return c.SetState(context.Background(), name, "app1", haproxy.StateDrain)
			},
			"SetState server": func(c *haproxy.Client) error {
				return c.SetState(context.Background(), "app", name, haproxy.StateDrain)
			},
			"ServerState backend": func(c *haproxy.Client) error {
				_, err := c.ServerState(context.Background(), name, "app1")
				return err
			},
			"ServerState server": func(c *haproxy.Client) error {
				_, err := c.ServerState(context.Background(), "app", name)
				return err
			},
			"Drain": func(c *haproxy.Client) error {
				return c.Drain(context.Background(), "app", name, time.Second)
			},
			"Ready": func(c *haproxy.Client) error {
				return c.Ready(context.Background(), name, "app1")
			},
		}
		for call, f := range calls {
			t.Run(call+"/"+strings.NewReplacer("\n", `\n`, "\r", `\r`, "\x00", `\0`, "/", "|").Replace(name), func(t *testing.T) {
				sock := newFakeSocket(func(string) string { return "\n" })
				err := f(&haproxy.Client{Dial: sock.dial})
				if got, want := errs.CodeOf(err), errs.Invalid; got != want {
					t.Errorf("got code %s (err %v), want %s", got, err, want)
				}
				if n := sock.dials.Load(); n != 0 {
					t.Errorf("got %d connections to the socket, want 0", n)
				}
			})
		}
	}
}

func TestSetStateRefusesUnknownState(t *testing.T) {
	for _, state := range []string{"", "up", "READY", "maint\nshutdown", "drain;"} {
		t.Run(state, func(t *testing.T) {
			sock := newFakeSocket(nil)
			err := (&haproxy.Client{Dial: sock.dial}).SetState(context.Background(), "app", "app1", state)
			if got, want := errs.CodeOf(err), errs.Invalid; got != want {
				t.Errorf("got code %s (err %v), want %s", got, err, want)
			}
			if n := sock.dials.Load(); n != 0 {
				t.Errorf("got %d connections to the socket, want 0", n)
			}
		})
	}
}

// serversState is an answer to `show servers state app` from HAProxy 2.6,
// with app1 in the given op and admin states.
func serversState(op, admin string) string {
	return "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n" +
		"3 app 1 app1 127.0.0.1 " + op + " " + admin + " 1 1 2 8 2 0 6 0 0 0 - 19997 - 0 0 - - 0\n" +
		"3 app 2 app2 127.0.0.1 2 0 1 1 2 8 2 0 6 0 0 0 - 19996 - 0 0 - - 0\n\n"
}

// showStat is an answer to `show stat app 4 -1` with app1's qcur and scur,
// its columns in another order than HAProxy's, to show they are found by
// name.
func showStat(qcur, scur string) string {
	return "# svname,pxname,scur,status,qcur,\n" +
		"app1,app," + scur + ",UP," + qcur + ",\n" +
		"app2,app,7,UP,0,\n\n"
}

func TestServerStateParsesTheDocumentedColumns(t *testing.T) {
	tests := []struct {
		name, op, admin, qcur, scur string
		want                        haproxy.State
	}{
		{"up and ready", "2", "0", "0", "3", haproxy.State{Operational: "up", Admin: "ready", Sessions: 3}},
		{"forced drain", "2", "8", "1", "2", haproxy.State{Operational: "up", Admin: "drain", Sessions: 2, Queued: 1}},
		{"inherited drain", "2", "16", "0", "0", haproxy.State{Operational: "up", Admin: "drain"}},
		{"forced maint", "0", "1", "0", "0", haproxy.State{Operational: "down", Admin: "maint"}},
		{"maint and drain", "0", "9", "0", "0", haproxy.State{Operational: "down", Admin: "maint"}},
		{"maint from config", "0", "4", "0", "0", haproxy.State{Operational: "down", Admin: "maint"}},
		{"maint from DNS", "0", "32", "0", "0", haproxy.State{Operational: "down", Admin: "maint"}},
		{"starting", "1", "0", "0", "0", haproxy.State{Operational: "starting", Admin: "ready"}},
		{"stopping", "3", "0", "0", "0", haproxy.State{Operational: "stopping", Admin: "ready"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := newFakeSocket(func(cmd string) string {
				switch cmd {
				case "show servers state app":
					return serversState(tt.op, tt.admin)
				case "show stat app 4 -1":
					return showStat(tt.qcur, tt.scur)
				}
				return "Unknown command.\n\n"
			})
			got, err := (&haproxy.Client{Dial: sock.dial}).ServerState(context.Background(), "app", "app1")
			if err != nil {
				t.Fatalf("ServerState: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// noDeadlines is a connection without deadlines, as the SSH channel to a
// stats socket reached through pool.haproxy.via.
type noDeadlines struct{ net.Conn }

func (noDeadlines) SetDeadline(time.Time) error { return errors.New("deadline not supported") }

func TestCommandOverAConnectionWithoutDeadlines(t *testing.T) {
	sock := newFakeSocket(func(string) string { return "\n" })
	dial := func(ctx context.Context) (net.Conn, error) {
		c, err := sock.dial(ctx)
		return noDeadlines{c}, err
	}
	if err := (&haproxy.Client{Dial: dial}).Ready(context.Background(), "app", "app1"); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if got := <-sock.commands; got != "set server app/app1 state ready" {
		t.Errorf("command: got %q", got)
	}
	hang := func(ctx context.Context) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			io.Copy(io.Discard, server) // returns when the client closes
			server.Close()
		}()
		return noDeadlines{client}, nil
	}
	c := &haproxy.Client{Dial: hang, Timeout: 100 * time.Millisecond}
	if err := c.Ready(context.Background(), "app", "app1"); errs.CodeOf(err) != errs.Unavailable {
		t.Errorf("a hanging socket without deadlines: got %v, want unavailable once the timeout passes", err)
	}
}

func TestCommandIsBoundedWhenTheSocketHangs(t *testing.T) {
	// A socket that accepts the command and never answers, like a stopped
	// haproxy.
	hang := func(ctx context.Context) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			io.Copy(io.Discard, server) // returns when the client closes
			server.Close()
		}()
		return client, nil
	}
	t.Run("Client.Timeout", func(t *testing.T) {
		c := &haproxy.Client{Dial: hang, Timeout: 100 * time.Millisecond}
		// The socket never answers: only the timeout can end the call.
		err := c.Ready(context.Background(), "app", "app1")
		if got, want := errs.CodeOf(err), errs.Unavailable; got != want {
			t.Errorf("got code %s (err %v), want %s", got, err, want)
		}
	})
	t.Run("ctx", func(t *testing.T) {
		c := &haproxy.Client{Dial: hang}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		// The socket never answers: only ctx can end the call, as the
		// error says.
		_, err := c.ServerState(ctx, "app", "app1")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded in the chain", err)
		}
	})
}

// TestCommandWithoutAnAnswerIsAnError: HAProxy ends every answer with an
// empty line, so that even a command that succeeds says "\n". A
// connection closed without a byte (a process going away under a reload,
// a port that is not the stats socket) was read as an empty answer: as
// the success of `set server`, and as a level that is not below admin.
func TestCommandWithoutAnAnswerIsAnError(t *testing.T) {
	calls := []struct {
		name string
		call func(c *haproxy.Client, p *haproxy.Pool) error
	}{
		{"SetState drain", func(c *haproxy.Client, _ *haproxy.Pool) error {
			return c.SetState(context.Background(), "app", "app1", haproxy.StateDrain)
		}},
		{"SetState maint", func(c *haproxy.Client, _ *haproxy.Pool) error {
			return c.SetState(context.Background(), "app", "app1", haproxy.StateMaint)
		}},
		{"Ready", func(c *haproxy.Client, _ *haproxy.Pool) error { return c.Ready(context.Background(), "app", "app1") }},
		{"Drain", func(c *haproxy.Client, _ *haproxy.Pool) error {
			return c.Drain(context.Background(), "app", "app1", time.Second)
		}},
		{"Pool.Check", func(_ *haproxy.Client, p *haproxy.Pool) error {
			_, err := p.Check(context.Background(), []deploy.Host{{Name: "app1"}})
			return err
		}},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			// A socket that answers `show servers state` and closes every
			// other connection without answering.
			sock := newFakeSocket(func(cmd string) string {
				if strings.HasPrefix(cmd, "show servers state") {
					return serversState("2", "0")
				}
				return ""
			})
			c := &haproxy.Client{Dial: sock.dial}
			err := tt.call(c, &haproxy.Pool{Client: c, Backend: "app"})
			if got, want := errs.CodeOf(err), errs.Unavailable; got != want {
				t.Errorf("got code %s (err %v), want %s", got, err, want)
			}
			if err != nil && !strings.Contains(err.Error(), "without answering") {
				t.Errorf("got %q, want it to say haproxy closed the connection without answering", err)
			}
		})
	}
}

// startProxy starts a real haproxy in front of servers and returns it with
// a client for its stats socket.
func startProxy(t *testing.T, opt haproxytest.Options) (*haproxytest.Proxy, *haproxy.Client) {
	t.Helper()
	p := haproxytest.Start(t, opt)
	dial := haproxy.TCPDialer(p.StatsAddr())
	if p.StatsNetwork() == "unix" {
		dial = haproxy.UnixDialer(p.StatsAddr())
	}
	return p, &haproxy.Client{Dial: dial}
}

// waitState polls server's state until ok accepts it or timeout passes,
// and returns the last state.
func waitState(t *testing.T, c *haproxy.Client, server string, timeout time.Duration, what string, ok func(haproxy.State) bool) haproxy.State {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := c.ServerState(context.Background(), "app", server)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s within %s: last state %+v, err %v", server, what, timeout, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isUp(st haproxy.State) bool {
	return st.Operational == haproxy.OpUp && st.Admin == haproxy.StateReady
}

func TestSetStateOnUnknownNamesReturnsHAProxysError(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	_, c := startProxy(t, haproxytest.Options{Servers: map[string]string{"app1": backend.Listener.Addr().String()}})
	ctx := context.Background()
	tests := []struct {
		name, backend, server, want string
	}{
		{"unknown server", "app", "nope", "No such server."},
		{"unknown backend", "nope", "app1", "No such backend."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.SetState(ctx, tt.backend, tt.server, haproxy.StateDrain)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want HAProxy's %q", err, tt.want)
			}
			if got, want := errs.CodeOf(err), errs.NotFound; got != want {
				t.Errorf("got code %s, want %s", got, want)
			}
			if _, err := c.ServerState(ctx, tt.backend, tt.server); errs.CodeOf(err) != errs.NotFound {
				t.Errorf("ServerState: got %v, want a not_found error", err)
			}
		})
	}
	// The server that does exist was left alone.
	waitState(t, c, "app1", 30*time.Second, "up", isUp)
}

// TestDrainReadsAgainAfterADroppedConnection: one connection to the
// stats socket that fails while a drain waits for the server's sessions
// (a busy or reloading haproxy) ended the drain with an error, failing a
// host that had switched already, where a drain waits up to its timeout
// and readying waits through the same failure.
func TestDrainReadsAgainAfterADroppedConnection(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	p, c := startProxy(t, haproxytest.Options{Servers: map[string]string{"app1": backend.Listener.Addr().String()}})
	waitState(t, c, "app1", 30*time.Second, "up", isUp)
	var dials atomic.Int32
	direct := haproxy.TCPDialer(p.StatsAddr())
	flaky := &haproxy.Client{Dial: func(ctx context.Context) (net.Conn, error) {
		// The first connection sets drain; the second, the first read
		// of the server's sessions, fails.
		if dials.Add(1) == 2 {
			return nil, errors.New("connection reset by peer")
		}
		return direct(ctx)
	}}
	if err := flaky.Drain(context.Background(), "app", "app1", 5*time.Second); err != nil {
		t.Fatalf("Drain: got %v, want it to read again and end in maint", err)
	}
	if n := dials.Load(); n < 4 {
		t.Errorf("got %d connections, want at least 4 (drain, a failed read, a read, maint)", n)
	}
	if st, err := c.ServerState(context.Background(), "app", "app1"); err != nil || st.Admin != haproxy.StateMaint {
		t.Errorf("after Drain: got %+v, %v; want maint", st, err)
	}
}

func TestDrainThenReadyOverAUnixSocket(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	p, c := startProxy(t, haproxytest.Options{
		Servers:    map[string]string{"app1": backend.Listener.Addr().String()},
		UnixSocket: true,
	})
	if got, want := p.StatsNetwork(), "unix"; got != want {
		t.Fatalf("got stats network %s, want %s", got, want)
	}
	ctx := context.Background()
	waitState(t, c, "app1", 30*time.Second, "up", isUp)

	if err := c.Drain(ctx, "app", "app1", 5*time.Second); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	st, err := c.ServerState(ctx, "app", "app1")
	if err != nil {
		t.Fatalf("ServerState: %v", err)
	}
	if want := (haproxy.State{Operational: haproxy.OpDown, Admin: haproxy.StateMaint}); st != want {
		t.Errorf("after Drain: got %+v, want %+v", st, want)
	}
	if err := c.Ready(ctx, "app", "app1"); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	waitState(t, c, "app1", 30*time.Second, "up", isUp)
}

func TestDrainTimesOutOnAnOpenSessionAndStillEndsInMaint(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /slow", slowHandler(release))
	backend := httptest.NewServer(mux)
	defer backend.Close()
	released := false
	unblock := func() {
		if !released {
			released = true
			close(release)
		}
	}
	defer unblock() // before backend.Close, which waits for /slow
	p, c := startProxy(t, haproxytest.Options{Servers: map[string]string{"app1": backend.Listener.Addr().String()}})
	ctx := context.Background()
	waitState(t, c, "app1", 30*time.Second, "up", isUp)

	// One request that keeps a session on app1 open until release.
	slow := make(chan error, 1)
	go func() {
		resp, err := http.Get(p.URL() + "/slow")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = errors.New(resp.Status)
			}
		}
		slow <- err
	}()
	waitState(t, c, "app1", 30*time.Second, "busy", func(st haproxy.State) bool { return st.Sessions == 1 })

	const timeout = 500 * time.Millisecond
	start := time.Now()
	err := c.Drain(ctx, "app", "app1", timeout)
	took := time.Since(start)
	if !errors.Is(err, haproxy.ErrDrainTimeout) {
		t.Fatalf("Drain: got %v, want ErrDrainTimeout", err)
	}
	t.Logf("Drain returned after %s: %v", took.Round(time.Millisecond), err)
	// The slow session stays open until unblock, so returning at all
	// shows Drain gave up on it; only the lower bound is a fact of time.
	if took < timeout {
		t.Errorf("Drain returned after %s, want at least its timeout %s", took, timeout)
	}
	st, err := c.ServerState(ctx, "app", "app1")
	if err != nil {
		t.Fatalf("ServerState: %v", err)
	}
	if st.Admin != haproxy.StateMaint || st.Sessions != 1 {
		t.Errorf("after Drain: got %+v, want admin maint with the slow session still open", st)
	}

	// Maint cuts no session: the slow request still succeeds.
	unblock()
	select {
	case err := <-slow:
		if err != nil {
			t.Errorf("slow request: got %v, want 200 OK", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("slow request: no answer within 30 s of its release")
	}
}

// TestAnswerWithoutEndIsRefused: whatever listens at the socket's address
// (through a host, with pool.haproxy.via) may answer without end; the
// client must stop reading at its bound rather than take it all into
// memory until the command's timeout.
func TestAnswerWithoutEndIsRefused(t *testing.T) {
	calls := []struct {
		name string
		call func(c *haproxy.Client) error
	}{
		{"Ready", func(c *haproxy.Client) error { return c.Ready(context.Background(), "app", "app1") }},
		{"ServerState", func(c *haproxy.Client) error {
			_, err := c.ServerState(context.Background(), "app", "app1")
			return err
		}},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			var sent atomic.Int64
			endless := func(ctx context.Context) (net.Conn, error) {
				client, server := net.Pipe()
				go func() {
					defer server.Close()
					if _, err := bufio.NewReader(server).ReadString('\n'); err != nil {
						return
					}
					line := []byte(strings.Repeat("x", 1023) + "\n")
					for {
						n, err := server.Write(line)
						sent.Add(int64(n))
						if err != nil {
							return
						}
					}
				}()
				return client, nil
			}
			err := tc.call(&haproxy.Client{Dial: endless, Timeout: 30 * time.Second})
			if got, want := errs.CodeOf(err), errs.Internal; got != want {
				t.Fatalf("got code %s (err %v), want %s", got, err, want)
			}
			if !strings.Contains(err.Error(), "more than 16 MiB") {
				t.Errorf("got %v, want it to say the answer was over 16 MiB", err)
			}
			if got, max := sent.Load(), int64(16<<20+64<<10); got > max {
				t.Errorf("bytes read of the answer: got %d, want at most %d", got, max)
			}
		})
	}
}

// TestDrainSetsStatesAgainAfterADroppedConnection: a connection to the
// stats socket that failed as Drain set the server to drain, or to maint
// once its sessions had ended (haproxy reloading, say), failed the host
// after its switch at once, where a read of its sessions is tried again
// until the drain timeout. A socket that stays out of reach still fails
// the drain, without ErrDrainTimeout: a server that may still take
// traffic is not restarted.
func TestDrainSetsStatesAgainAfterADroppedConnection(t *testing.T) {
	tests := []struct {
		name   string
		fail   func(dial int32) bool // whether the dial-th connection fails
		wantOK bool
		admin  string // the server's admin state after Drain
	}{
		{name: "set drain", fail: func(n int32) bool { return n == 1 }, wantOK: true, admin: haproxy.StateMaint},
		// Dials: drain, a read finding no session, maint.
		{name: "set maint", fail: func(n int32) bool { return n == 3 }, wantOK: true, admin: haproxy.StateMaint},
		{name: "socket gone", fail: func(int32) bool { return true }, admin: haproxy.StateReady},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			defer backend.Close()
			p, c := startProxy(t, haproxytest.Options{Servers: map[string]string{"app1": backend.Listener.Addr().String()}})
			waitState(t, c, "app1", 30*time.Second, "up", isUp)
			var dials atomic.Int32
			direct := haproxy.TCPDialer(p.StatsAddr())
			flaky := &haproxy.Client{Dial: func(ctx context.Context) (net.Conn, error) {
				if tt.fail(dials.Add(1)) {
					return nil, errors.New("connection refused")
				}
				return direct(ctx)
			}}
			err := flaky.Drain(context.Background(), "app", "app1", 2*time.Second)
			switch {
			case tt.wantOK && err != nil:
				t.Errorf("Drain: got %v, want it to send the command again and end in maint", err)
			case !tt.wantOK && err == nil:
				t.Errorf("Drain: got no error, want one: the server was never set to drain")
			case !tt.wantOK && errors.Is(err, haproxy.ErrDrainTimeout):
				t.Errorf("Drain: got %v, want an error without ErrDrainTimeout: the host must not be restarted", err)
			case !tt.wantOK && !strings.Contains(errs.Message(err), "could not be set to drain within 2s"):
				t.Errorf("Drain: got %q, want it to say the server could not be set to drain within 2s", errs.Message(err))
			}
			if st, err := c.ServerState(context.Background(), "app", "app1"); err != nil || st.Admin != tt.admin {
				t.Errorf("after Drain: got %+v, %v; want admin %s", st, err, tt.admin)
			}
		})
	}
}

// failMaint is a connection that fails the write of a `set server … state
// maint` command while fail returns true, as a stats socket does when
// haproxy reloads between a drain and the maint after it.
type failMaint struct {
	net.Conn
	fail func() bool
}

func (c failMaint) Write(b []byte) (int, error) {
	if strings.HasSuffix(strings.TrimSpace(string(b)), " state maint") && c.fail() {
		c.Conn.Close()
		return 0, errors.New("broken pipe")
	}
	return c.Conn.Write(b)
}

// TestDrainTimeoutSetsMaintAgainAfterADroppedConnection: once a drain ran
// out of time, `state maint` was sent once; a connection that failed then
// (haproxy reloading, say) failed the drain with the bare connection
// error, although the server could be set to maint a moment later. The
// maint is now sent again for a bounded time; a socket still out of reach
// then fails the drain without ErrDrainTimeout (the server, in drain
// rather than maint, is not to be restarted), saying so.
func TestDrainTimeoutSetsMaintAgainAfterADroppedConnection(t *testing.T) {
	tests := []struct {
		name     string
		failures int32 // maint commands that fail; -1 for all
		wantOK   bool
		admin    string // the server's admin state after Drain
	}{
		{name: "one dropped connection", failures: 1, wantOK: true, admin: haproxy.StateMaint},
		{name: "socket gone", failures: -1, admin: haproxy.StateDrain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			mux := http.NewServeMux()
			mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
			mux.HandleFunc("GET /slow", slowHandler(release))
			backend := httptest.NewServer(mux)
			defer backend.Close()
			p, c := startProxy(t, haproxytest.Options{Servers: map[string]string{"app1": backend.Listener.Addr().String()}})
			waitState(t, c, "app1", 30*time.Second, "up", isUp)
			slow := make(chan struct{})
			go func() {
				defer close(slow)
				if resp, err := http.Get(p.URL() + "/slow"); err == nil {
					resp.Body.Close()
				}
			}()
			defer func() { close(release); <-slow }() // before backend.Close, which waits for /slow
			waitState(t, c, "app1", 30*time.Second, "busy", func(st haproxy.State) bool { return st.Sessions == 1 })

			var maints atomic.Int32
			direct := haproxy.TCPDialer(p.StatsAddr())
			flaky := &haproxy.Client{Dial: func(ctx context.Context) (net.Conn, error) {
				conn, err := direct(ctx)
				if err != nil {
					return nil, err
				}
				return failMaint{Conn: conn, fail: func() bool {
					n := maints.Add(1)
					return tt.failures < 0 || n <= tt.failures
				}}, nil
			}}
			// A hang guard only: a Drain that sent maint without bound
			// would end with this context's error, not the one below.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			err := flaky.Drain(ctx, "app", "app1", 500*time.Millisecond)
			t.Logf("Drain returned after %s, maint sent %d times: %v", time.Since(start).Round(time.Millisecond), maints.Load(), err)
			switch {
			case tt.wantOK && !errors.Is(err, haproxy.ErrDrainTimeout):
				t.Errorf("Drain: got %v, want ErrDrainTimeout after sending maint again", err)
			case !tt.wantOK && err == nil:
				t.Errorf("Drain: got no error, want one: the server was never set to maint")
			case !tt.wantOK && errors.Is(err, haproxy.ErrDrainTimeout):
				t.Errorf("Drain: got %v, want an error without ErrDrainTimeout: the server is not in maint and must not be restarted", err)
			case !tt.wantOK && !strings.Contains(errs.Message(err), "app/app1 could not be set to maint after its drain timeout of 500ms"):
				t.Errorf("Drain: got %q, want it to say the server could not be set to maint after its drain timeout", errs.Message(err))
			}
			if !tt.wantOK {
				// Sent again at most once a poll (100 ms) for MaintRetry: a
				// slow machine sends fewer, never more.
				most := int32(haproxy.MaintRetry/(100*time.Millisecond)) + 2
				if n := maints.Load(); n < 2 || n > most {
					t.Errorf("maint sent %d times, want it sent again, %d times at most (for %s past the drain timeout)", n, most, haproxy.MaintRetry)
				}
			}
			if st, err := c.ServerState(context.Background(), "app", "app1"); err != nil || st.Admin != tt.admin {
				t.Errorf("after Drain: got %+v, %v; want admin %s", st, err, tt.admin)
			}
		})
	}
}
