package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// slowLoginFleet starts n hosts whose logins take a while, as a bastion
// looking keys up in a directory (AuthorizedKeysCommand) does, and whose
// sshd has OpenSSH's default MaxStartups: past 10 connections that have
// not logged in yet it drops new ones, 30 % of them at first. It returns
// the fleet and the key it accepts.
func slowLoginFleet(t *testing.T, n int) (*sshd.Fleet, string) {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "id_ed25519")
	keygen(t, key, "")
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, []byte(readFile(t, key+".pub")), 0o644); err != nil {
		t.Fatal(err)
	}
	f := sshd.StartFleet(t, n, sshd.Options{NoNamespace: true, Config: []string{
		"MaxStartups 10:30:100",
		"AuthorizedKeysFile none",
		"AuthorizedKeysCommand /bin/sh -c \"sleep 0.2; cat " + keys + "\"",
		"AuthorizedKeysCommandUser " + u.Username,
	}})
	return f, key
}

// TestJumpHostMaxStartups opens sessions to many hosts at once through one
// bastion whose sshd keeps OpenSSH's default MaxStartups (10:30:100):
// every host must be reached, and the bastion must drop no connection.
func TestJumpHostMaxStartups(t *testing.T) {
	t.Parallel()
	const targets = 30
	f, key := slowLoginFleet(t, targets+1)
	tr := transport(t, f, func(c *Config) {
		c.KeyFile = key
		c.Jump = &JumpHost{Address: f.Hosts[0].Addr}
		c.ConnectTimeout = 30 * time.Second // this test is about drops, not a busy machine
	})
	var wg sync.WaitGroup
	errs := make([]error, targets)
	for i := range targets {
		wg.Go(func() {
			s, err := tr.Open(context.Background(), host(f, i+1))
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = s.Close()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %s through the bastion: %v", f.Hosts[i+1].Name, err)
		}
	}
	if n := strings.Count(f.Log(0), "Accepted publickey"); n != targets {
		t.Errorf("the bastion accepted %d logins, want %d", n, targets)
	}
}

// TestDroppedBeforeBanner connects to a host whose sshd is at its
// MaxStartups: it closes every new connection before its SSH banner. The
// connection is tried again within connect_timeout; a host that goes on
// dropping it is unreachable, and the error says why.
func TestDroppedBeforeBanner(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		free bool // the connection that holds the host's one startup ends after the first drop
	}{
		{name: "a startup frees up", free: true},
		{name: "the host stays full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true, Config: []string{"MaxStartups 1"}})
			holder := holdStartup(t, f.Hosts[0].Addr)
			tr := transport(t, f, nil)
			type result struct {
				s   deploy.Session
				err error
			}
			done := make(chan result, 1)
			go func() {
				s, err := tr.Open(context.Background(), host(f, 0))
				done <- result{s, err}
			}()
			var r result
			if tc.free {
				// Free the startup once the host dropped a connection,
				// however long that takes; Open ending first, with no
				// drop logged, is a failure of its own.
				dropped := false
				for !dropped {
					select {
					case r = <-done:
						t.Fatalf("Open ended before the host logged a drop: %v", r.err)
					case <-time.After(10 * time.Millisecond):
						dropped = strings.Contains(f.Log(0), "past MaxStartups")
					}
				}
				holder.Close()
			}
			r = <-done
			switch {
			case tc.free && r.err != nil:
				t.Fatalf("Open once a startup freed up: %v", r.err)
			case tc.free:
				r.s.Close()
			case !errors.Is(r.err, deploy.ErrUnreachable) || !strings.Contains(r.err.Error(), "before its SSH banner, 5 times") || !strings.Contains(r.err.Error(), "MaxStartups"):
				t.Fatalf("Open of a host that drops every connection: got %v, want ErrUnreachable saying it closed it before its banner 5 times", r.err)
			}
		})
	}
}

// TestJumpHostSilent opens sessions to many hosts at once through a
// bastion that accepts connections and never answers: every Open fails as
// unreachable, and once the logins in progress have waited their
// connect_timeout, those queued behind them fail with them instead of
// each waiting its own.
func TestJumpHostSilent(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	addr, accepted := sshd.Silent(t)
	tr := transport(t, f, func(c *Config) {
		c.Jump = &JumpHost{Address: addr}
		c.ConnectTimeout = time.Second
	})
	const hosts = 3 * DefaultJumpStartups
	var wg sync.WaitGroup
	errs := make([]error, hosts)
	for i := range hosts {
		wg.Go(func() {
			h := deploy.Host{Name: "web" + strconv.Itoa(i), Address: "10.0.0." + strconv.Itoa(i+1)}
			s, err := tr.Open(context.Background(), h)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		name := "web" + strconv.Itoa(i)
		if !errors.Is(err, deploy.ErrUnreachable) || !strings.Contains(err.Error(), "bastion for "+name+" ") {
			t.Errorf("Open %s through a silent bastion: got %v, want ErrUnreachable naming the bastion for %s", name, err, name)
		}
	}
	if n := accepted(); n > DefaultJumpStartups {
		t.Errorf("the bastion got %d connections, want at most %d: the logins queued behind ones it left unanswered should not be tried", n, DefaultJumpStartups)
	}
}

// holdStartup opens a connection to addr that never logs in, so that it
// holds one of the sshd's startups until it is closed (at the latest when
// the test ends). The sshd may still count the connection with which the
// fleet checked it answers: until its banner comes, it tries again.
func holdStartup(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		n, _ := c.Read(b)
		if strings.HasPrefix(string(b[:n]), "SSH-") {
			t.Cleanup(func() { c.Close() })
			return c
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s sent no banner within 10s: %q", addr, b[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestJumpHostTurnNeverCame: a login whose ctx ends while it waits for its
// turn at the bastion (a status read's few seconds) says so, rather than
// leave a bare "context deadline exceeded" to explain a host that could
// not be read.
func TestJumpHostTurnNeverCame(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	// The first login holds the one turn until its ctx ends.
	addr, _ := sshd.Silent(t)
	tr := transport(t, f, func(c *Config) {
		c.Jump = &JumpHost{Address: addr, Startups: NewStartups(1)}
		c.ConnectTimeout = time.Minute
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = tr.Open(ctx, deploy.Host{Name: "web" + strconv.Itoa(i), Address: "10.0.0." + strconv.Itoa(i+1)})
		})
	}
	wg.Wait()
	waited := 0
	for _, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Open past its ctx: got %v, want context.DeadlineExceeded", err)
		}
		// It says how long it waited, as a timeout does.
		if m := turnWaited.FindStringSubmatch(fmt.Sprint(err)); m != nil {
			if d, perr := time.ParseDuration(m[1]); perr != nil || d <= 0 {
				t.Errorf("got %v, want how long it waited for its turn", err)
			}
			waited++
		}
	}
	if waited != 1 {
		t.Errorf("got %d errors saying the login waited for its turn at the bastion, want 1: %v", waited, errs)
	}
}

// turnWaited matches the error of a login whose ctx ended while it waited
// for its turn at a bastion of one turn, and takes how long it waited.
var turnWaited = regexp.MustCompile(`^ssh: connect web[01] \(10\.0\.0\.[12]:22\): waited (\S+) for a turn to log in through the bastion \(1 at a time: jump\.max_startups\): context deadline exceeded$`)
