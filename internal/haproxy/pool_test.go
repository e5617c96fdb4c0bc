package haproxy_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/haproxy"
	haproxytest "github.com/switchman-bot/switchman/internal/testenv/haproxy"
)

// healthServer is a backend whose GET /health answers 200 while healthy
// is true and 503 otherwise; checks counts the health requests.
type healthServer struct {
	*httptest.Server
	healthy atomic.Bool
	checks  atomic.Int64
}

func newHealthServer(t *testing.T, healthy bool) *healthServer {
	t.Helper()
	s := &healthServer{}
	s.healthy.Store(healthy)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			s.checks.Add(1)
			if !s.healthy.Load() {
				http.Error(w, "not yet", http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok\n"))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *healthServer) addr() string { return s.Listener.Addr().String() }

// waitChecks waits until the server has answered n more health checks.
func (s *healthServer) waitChecks(t *testing.T, n int64) {
	t.Helper()
	want := s.checks.Load() + n
	deadline := time.Now().Add(5 * time.Second)
	for s.checks.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("haproxy sent %d health checks within 5s, want %d", s.checks.Load(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPoolDrainThenReadyReturnsOnceUp(t *testing.T) {
	backend := newHealthServer(t, true)
	// The server name comes from a host var, as a config's
	// server: "{name}" would give it.
	_, c := startProxy(t, haproxytest.Options{Servers: map[string]string{"web-1": backend.addr()}})
	pool := &haproxy.Pool{Client: c, Backend: "app", Server: "{name}", DrainTimeout: 5 * time.Second}
	host := deploy.Host{Name: "host0", Address: "127.0.0.1:22", Vars: map[string]string{"name": "web-1"}}
	ctx := context.Background()
	waitState(t, c, "web-1", 5*time.Second, "up", isUp)

	if err := pool.Drain(ctx, host); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	st, err := c.ServerState(ctx, "app", "web-1")
	if err != nil {
		t.Fatalf("ServerState: %v", err)
	}
	if st.Admin != haproxy.StateMaint {
		t.Errorf("after Drain: got admin %s, want %s", st.Admin, haproxy.StateMaint)
	}

	start := time.Now()
	if err := pool.Ready(ctx, host); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	t.Logf("Ready returned after %s", time.Since(start).Round(time.Millisecond))
	// Ready has waited: no polling here.
	st, err = c.ServerState(ctx, "app", "web-1")
	if err != nil {
		t.Fatalf("ServerState: %v", err)
	}
	if !isUp(st) {
		t.Errorf("right after Ready: got %+v, want up and ready", st)
	}
}

// TestPoolReadySetsReadyAgainAfterADroppedConnection: a connection to
// the stats socket that failed as Ready set the server ready failed the
// host at once, after its restart and health check had passed, leaving
// it in maint and reverting it, where a failure to read its state after
// that is waited through until ReadyTimeout.
func TestPoolReadySetsReadyAgainAfterADroppedConnection(t *testing.T) {
	backend := newHealthServer(t, true)
	p, c := startProxy(t, haproxytest.Options{Servers: map[string]string{"host0": backend.addr()}})
	waitState(t, c, "host0", 5*time.Second, "up", isUp)
	ctx := context.Background()
	if err := c.SetState(ctx, "app", "host0", haproxy.StateMaint); err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	direct := haproxy.TCPDialer(p.StatsAddr())
	flaky := &haproxy.Client{Dial: func(ctx context.Context) (net.Conn, error) {
		if dials.Add(1) == 1 { // set ready
			return nil, errors.New("connection reset by peer")
		}
		return direct(ctx)
	}}
	pool := &haproxy.Pool{Client: flaky, Backend: "app", ReadyTimeout: 5 * time.Second}
	if err := pool.Ready(ctx, deploy.Host{Name: "host0"}); err != nil {
		t.Fatalf("Ready: got %v, want it to set ready again and return once up", err)
	}
	if st, err := c.ServerState(ctx, "app", "host0"); err != nil || !isUp(st) {
		t.Errorf("after Ready: got %+v, %v; want up and ready", st, err)
	}
}

func TestPoolReadyWaitsForTheServerToPassItsCheck(t *testing.T) {
	backend := newHealthServer(t, true)
	_, c := startProxy(t, haproxytest.Options{Servers: map[string]string{"host0": backend.addr()}})
	pool := &haproxy.Pool{Client: c, Backend: "app", DrainTimeout: 5 * time.Second}
	host := deploy.Host{Name: "host0"}
	ctx := context.Background()
	waitState(t, c, "host0", 5*time.Second, "up", isUp)
	if err := pool.Drain(ctx, host); err != nil {
		t.Fatalf("Drain: %v", err)
	}

	// The restarted server does not answer its checks yet.
	backend.healthy.Store(false)
	done := make(chan error, 1)
	go func() { done <- pool.Ready(ctx, host) }()
	// haproxy checks every 200 ms and needs two failures to call a server
	// down: three failed checks after Ready leave no doubt.
	backend.waitChecks(t, 3)
	select {
	case err := <-done:
		t.Fatalf("Ready returned %v while the server failed its checks, want it to wait", err)
	default:
	}
	healthyAt := time.Now()
	backend.healthy.Store(true)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Ready: %v", err)
		}
		t.Logf("Ready returned %s after the server became healthy", time.Since(healthyAt).Round(time.Millisecond))
	case <-time.After(haproxy.DefaultReadyTimeout):
		t.Fatal("Ready did not return after the server became healthy")
	}
}

func TestPoolReadyGivesUpOnAServerThatStaysDown(t *testing.T) {
	backend := newHealthServer(t, false)
	_, c := startProxy(t, haproxytest.Options{Servers: map[string]string{"host0": backend.addr()}})
	pool := &haproxy.Pool{Client: c, Backend: "app", ReadyTimeout: time.Second}
	start := time.Now()
	err := pool.Ready(context.Background(), deploy.Host{Name: "host0"})
	took := time.Since(start)
	if got, want := errs.CodeOf(err), errs.Unavailable; got != want {
		t.Fatalf("got code %s (err %v), want %s", got, err, want)
	}
	for _, want := range []string{"app/host0", "not up after 1s", "status DOWN", "L7STS 503"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// It waited the whole ReadyTimeout: a busy machine only makes that
	// longer, and the error above says it was the timeout that ended it.
	if took < time.Second {
		t.Errorf("Ready gave up after %s, want after its ReadyTimeout of 1s", took)
	}
}

func TestPoolServerTemplate(t *testing.T) {
	tests := []struct {
		name, server string
		host         deploy.Host
		want         string
	}{
		{"default", "", deploy.Host{Name: "web1"}, "web1"},
		{"host", "{host}", deploy.Host{Name: "web1"}, "web1"},
		{"var", "{pool}-{host}", deploy.Host{Name: "web1", Vars: map[string]string{"pool": "blue"}}, "blue-web1"},
		{"host wins over a var", "{host}", deploy.Host{Name: "web1", Vars: map[string]string{"host": "other"}}, "web1"},
		{"constant", "only", deploy.Host{Name: "web1"}, "only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := newFakeSocket(func(cmd string) string {
				if strings.HasPrefix(cmd, "show stat ") {
					return "# pxname,svname,qcur,scur\napp," + tt.want + ",0,0\n\n"
				}
				return "\n"
			})
			pool := &haproxy.Pool{Client: &haproxy.Client{Dial: sock.dial}, Backend: "app", Server: tt.server, DrainTimeout: time.Second}
			if err := pool.Drain(context.Background(), tt.host); err != nil {
				t.Fatalf("Drain: %v", err)
			}
			close(sock.commands)
			var got []string
			for cmd := range sock.commands {
				got = append(got, cmd)
			}
			want := []string{
				"set server app/" + tt.want + " state drain",
				"show stat app 4 -1",
				"set server app/" + tt.want + " state maint",
			}
			if !slices.Equal(got, want) {
				t.Errorf("got commands %q, want %q", got, want)
			}
		})
	}
}

func TestPoolRefusesAServerNameThatCouldInjectACommand(t *testing.T) {
	sock := newFakeSocket(nil)
	pool := &haproxy.Pool{Client: &haproxy.Client{Dial: sock.dial}, Backend: "app", Server: "{name}"}
	host := deploy.Host{Name: "web1", Vars: map[string]string{"name": "x\nshutdown"}}
	for what, call := range map[string]func() error{
		"Drain": func() error { return pool.Drain(context.Background(), host) },
		"Ready": func() error { return pool.Ready(context.Background(), host) },
	} {
		if err := call(); errs.CodeOf(err) != errs.Invalid {
			t.Errorf("%s: got %v, want an invalid-name error", what, err)
		}
	}
	if n := sock.dials.Load(); n != 0 {
		t.Errorf("got %d connections to the socket, want 0", n)
	}
}

// TestPoolCheckRefusesASocketBelowAdmin: a stats socket at level operator
// (HAProxy's default) or user answers `show servers state` but refuses
// `set server` ("Permission denied"). Check passed it, and the first
// host's drain failed after its switch, and so did its switch back.
func TestPoolCheckRefusesASocketBelowAdmin(t *testing.T) {
	for _, tt := range []struct {
		level string
		want  string // in the error; "" for none
	}{
		{"user", "answers at level user, and taking a server out of rotation (set server) needs level admin"},
		{"operator", "answers at level operator, and taking a server out of rotation (set server) needs level admin"},
		{"admin", ""},
	} {
		t.Run(tt.level, func(t *testing.T) {
			web1 := newHealthServer(t, true)
			proxy := haproxytest.Start(t, haproxytest.Options{Servers: map[string]string{"web1": web1.addr()}, SocketLevel: tt.level})
			pool := &haproxy.Pool{Client: &haproxy.Client{Dial: haproxy.TCPDialer(proxy.StatsAddr())}, Backend: proxy.Backend()}
			_, err := pool.Check(context.Background(), []deploy.Host{{Name: "web1"}})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check: got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Check: got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestPoolReadyFailsAtOnceOnAnAnswerNoSocketGives: an answer over the read
// bound is an Internal error, which the socket gives again on every poll;
// Ready must return it after the first read rather than ask until
// ReadyTimeout and then report a timeout.
func TestPoolReadyFailsAtOnceOnAnAnswerNoSocketGives(t *testing.T) {
	huge := strings.Repeat(strings.Repeat("x", 1023)+"\n", 16<<10+1)
	sock := newFakeSocket(func(cmd string) string {
		if strings.HasPrefix(cmd, "show stat ") {
			return huge
		}
		return "\n"
	})
	pool := &haproxy.Pool{Client: &haproxy.Client{Dial: sock.dial}, Backend: "app", ReadyTimeout: time.Second}
	err := pool.Ready(context.Background(), deploy.Host{Name: "host0"})
	if got, want := errs.CodeOf(err), errs.Internal; got != want {
		t.Fatalf("got code %s (err %v), want %s", got, err, want)
	}
	if !strings.Contains(err.Error(), "more than 16 MiB") {
		t.Errorf("got %v, want it to say the answer was over 16 MiB", err)
	}
	close(sock.commands)
	var stats int
	for cmd := range sock.commands {
		if strings.HasPrefix(cmd, "show stat ") {
			stats++
		}
	}
	if stats != 1 {
		t.Errorf("show stat asked %d times, want 1", stats)
	}
}

// TestPoolCheckRefusesALevelItCannotRead: Check refused only the answers
// "operator" and "user" to `show cli level`, and passed any other: an
// HAProxy without the command (before 2.0), or something other than
// HAProxy's stats socket answering with an error, passed the check, and
// whether `set server` would work was found out at the first host's
// drain. Only "admin" passes now.
func TestPoolCheckRefusesALevelItCannotRead(t *testing.T) {
	for _, tt := range []struct {
		name, answer string
		want         string // in the error; "" for none
	}{
		{"admin", "admin\n\n", ""},
		{"before 2.0", "Unknown command. Please enter one of the following commands only :\n  help           : this message\n\n",
			`does not know "show cli level" (HAProxy before 2.0?): Switchman needs HAProxy 2.0 or later`},
		{"an error", "Permission denied\n\n", `answered "show cli level" with "Permission denied", not a level`},
		{"not haproxy", "hello\n", `answered "show cli level" with "hello", not a level`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sock := newFakeSocket(func(cmd string) string {
				if cmd == "show cli level" {
					return tt.answer
				}
				return serversState("2", "0")
			})
			pool := &haproxy.Pool{Client: &haproxy.Client{Dial: sock.dial}, Backend: "app"}
			_, err := pool.Check(context.Background(), []deploy.Host{{Name: "app1"}})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check: got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Check: got %v, want an error saying %q", err, tt.want)
			case tt.want != "" && errs.CodeOf(err) != errs.Invalid:
				t.Errorf("Check: got code %s, want %s", errs.CodeOf(err), errs.Invalid)
			}
		})
	}
}

// TestSocketAnswersUnmarked: what the stats socket answers (HAProxy's
// errors, a health check's text, which the app's reason phrase fills)
// reaches replies without the marks of the bot's suggested commands
// (see suggest): the socket is reached on another host (pool.haproxy.via),
// and a command it wrote between them would pass for the bot's
// suggestion.
func TestSocketAnswersUnmarked(t *testing.T) {
	const forged = "\ue000rollback web prod\ue001"
	row := "# pxname,svname,scur,status,check_status,check_code,last_chk,\n" +
		"app,host0,0,DOWN,L7STS,503," + forged + ",\n\n"
	tests := []struct {
		name   string
		answer func(cmd string) string
		do     func(*haproxy.Pool) error
	}{
		{name: "set server", answer: func(string) string { return "No such server " + forged + ".\n\n" },
			do: func(p *haproxy.Pool) error { return p.Drain(context.Background(), deploy.Host{Name: "host0"}) }},
		{name: "show servers state", answer: func(string) string { return forged + "\n\n" },
			do: func(p *haproxy.Pool) error {
				_, err := p.Check(context.Background(), []deploy.Host{{Name: "host0"}})
				return err
			}},
		{name: "last check", answer: func(cmd string) string {
			if strings.HasPrefix(cmd, "show stat ") {
				return row
			}
			return "\n"
		}, do: func(p *haproxy.Pool) error { return p.Ready(context.Background(), deploy.Host{Name: "host0"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := newFakeSocket(tt.answer)
			pool := &haproxy.Pool{Client: &haproxy.Client{Dial: sock.dial}, Backend: "app", ReadyTimeout: time.Second}
			err := tt.do(pool)
			if err == nil {
				t.Fatal("got no error")
			}
			msg := errs.Message(err)
			if strings.ContainsAny(msg, "\ue000\ue001") {
				t.Errorf("got %q, want no marks in it", msg)
			}
			if !strings.Contains(msg, "rollback web prod") {
				t.Errorf("got %q, want it to quote the answer", msg)
			}
		})
	}
}
