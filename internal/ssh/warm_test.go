package ssh

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// warmCount is how many connections tr keeps warm.
func warmCount(tr *Transport) int {
	tr.warm.mu.Lock()
	defer tr.warm.mu.Unlock()
	return len(tr.warm.idle)
}

// connection opens host i, returns its SSH_CONNECTION (the client's port
// names the connection) and closes the session.
func connection(t *testing.T, tr *Transport, f *sshd.Fleet, i int) string {
	t.Helper()
	s, err := tr.Open(context.Background(), host(f, i))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	return run(t, s, "echo $SSH_CONNECTION")
}

func logins(f *sshd.Fleet, i int) int { return strings.Count(f.Log(i), "Accepted publickey") }

func TestKeepWarm(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 6, sshd.Options{})
	warm := func(d time.Duration) func(*Config) {
		return func(c *Config) {
			c.KeepWarm = d
			c.KeepAlive = 300 * time.Millisecond
		}
	}
	// Each case has a host of its own, so that they can run at once and
	// count that host's logins.
	tests := []struct {
		name     string
		keepWarm time.Duration
		// between runs after the first session closed and before the
		// second Open.
		between func(t *testing.T, tr *Transport, i int)
		reused  bool
		logins  int // on the case's host, in all
	}{
		{name: "reused within keep_warm", keepWarm: time.Minute, reused: true, logins: 1},
		{name: "off", keepWarm: 0, logins: 2},
		{name: "expired", keepWarm: 200 * time.Millisecond, logins: 2, between: func(t *testing.T, tr *Transport, _ int) {
			deadline := time.Now().Add(5 * time.Second)
			for warmCount(tr) > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if n := warmCount(tr); n != 0 {
				t.Fatalf("%d connections still warm after keep_warm", n)
			}
		}},
		{name: "transport closed", keepWarm: time.Minute, logins: 2, between: func(t *testing.T, tr *Transport, _ int) {
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		// The second session reuses the first connection and spoils it.
		{name: "spoiled by a timed-out step", keepWarm: time.Minute, logins: 2, between: func(t *testing.T, tr *Transport, i int) {
			s, err := tr.Open(context.Background(), host(f, i))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Run(context.Background(), deploy.Command{Script: "sleep 30", Timeout: 200 * time.Millisecond}); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want a timeout", err)
			}
			s.Close()
			if n := warmCount(tr); n != 0 {
				t.Fatalf("%d connections kept warm after a timed-out step, want 0", n)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := transport(t, f, warm(tt.keepWarm))
			t.Cleanup(func() { tr.Close() })
			first := connection(t, tr, f, i)
			if tt.between != nil {
				tt.between(t, tr, i)
			}
			second := connection(t, tr, f, i)
			if got := first == second; got != tt.reused {
				t.Errorf("second Open reused the first connection: %v, want %v (%q, %q)", got, tt.reused, first, second)
			}
			if n := logins(f, i); n != tt.logins {
				t.Errorf("sshd accepted %d logins, want %d", n, tt.logins)
			}
		})
	}

	t.Run("one warm connection per host", func(t *testing.T) {
		tr := transport(t, f, warm(time.Minute))
		defer tr.Close()
		const h = 5
		a, err := tr.Open(context.Background(), host(f, h))
		if err != nil {
			t.Fatal(err)
		}
		b, err := tr.Open(context.Background(), host(f, h))
		if err != nil {
			t.Fatal(err)
		}
		if run(t, a, "echo $SSH_CONNECTION") == run(t, b, "echo $SSH_CONNECTION") {
			t.Fatal("two open sessions share a connection")
		}
		a.Close()
		b.Close()
		if n := warmCount(tr); n != 1 {
			t.Errorf("%d connections kept warm, want 1", n)
		}
	})
}

// TestKeepWarmRecheck: a warm connection is not reused once known_hosts no
// longer accepts its host's key, nor once the host is gone; Open then
// reports what a new login finds.
func TestKeepWarmRecheck(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 2, sshd.Options{})
	known := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(known, []byte(readFile(t, f.KnownHosts)), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := transport(t, f, func(c *Config) {
		c.KnownHostsFile = known
		c.KeepWarm = time.Minute
	})
	defer tr.Close()
	for i := range f.Hosts {
		connection(t, tr, f, i)
	}
	if n := warmCount(tr); n != 2 {
		t.Fatalf("%d connections kept warm, want 2", n)
	}

	t.Run("key no longer in known_hosts", func(t *testing.T) {
		// host0's line now carries host1's key: a changed key.
		lines := strings.SplitAfter(readFile(t, known), "\n")
		addr0, _, _ := strings.Cut(lines[0], " ")
		_, key1, _ := strings.Cut(lines[1], " ")
		if err := os.WriteFile(known, []byte(addr0+" "+key1+lines[1]), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := tr.Open(context.Background(), host(f, 0))
		var hk *HostKeyError
		if !errors.As(err, &hk) || !hk.Changed {
			t.Fatalf("got %v, want a changed host key error", err)
		}
		if n := logins(f, 0); n != 1 {
			t.Errorf("sshd accepted %d logins, want 1 (the refused one never logs in)", n)
		}
	})
	t.Run("host gone", func(t *testing.T) {
		f.Kill(1)
		_, err := tr.Open(context.Background(), host(f, 1))
		if !errors.Is(err, deploy.ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
	})
}

// TestKeepWarmMaxAge: a connection is kept warm and reused only until
// maxAge after its login, however often it is used.
func TestKeepWarmMaxAge(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 3, sshd.Options{})
	const maxAge = 1500 * time.Millisecond
	tests := []struct {
		name string
		// check uses host i through tr, whose connections are kept warm
		// for an hour but reach maxAge long before: a connection that
		// outlives maxAge outlives the generous waits below too.
		check func(t *testing.T, tr *Transport, i int)
	}{
		{"used all the time, it logs in again", func(t *testing.T, tr *Transport, i int) {
			first := connection(t, tr, f, i)
			deadline := time.Now().Add(maxAge + time.Minute)
			for connection(t, tr, f, i) == first {
				if time.Now().After(deadline) {
					t.Fatalf("the connection of the first login is still reused %s after it", maxAge+time.Minute)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if n := logins(f, i); n != 2 {
				t.Errorf("sshd accepted %d logins, want 2", n)
			}
		}},
		{"idle, it is closed", func(t *testing.T, tr *Transport, i int) {
			connection(t, tr, f, i)
			deadline := time.Now().Add(maxAge + time.Minute)
			for warmCount(tr) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("a connection still kept warm %s after its login", maxAge+time.Minute)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}},
		{"its session closed past it, it is not kept", func(t *testing.T, tr *Transport, i int) {
			s, err := tr.Open(context.Background(), host(f, i))
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(maxAge)
			// A session open at maxAge goes on.
			run(t, s, "true")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if n := warmCount(tr); n != 0 {
				t.Errorf("%d connections kept warm past their age, want 0", n)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := transport(t, f, func(c *Config) {
				c.KeepWarm = time.Hour
			})
			tr.maxAge = maxAge
			t.Cleanup(func() { tr.Close() })
			tt.check(t, tr, i)
		})
	}
}

// TestKeepWarmRevokedKey: once the bot's key is removed from a host's
// authorized_keys, a bot that keeps using the host loses it within
// maxAge, though each use re-arms keep_warm.
func TestKeepWarmRevokedKey(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	const maxAge = 1500 * time.Millisecond
	// Kept warm for an hour, but reaching maxAge long before: a
	// connection that outlives maxAge outlives the generous wait below
	// too, each use re-arming keep_warm.
	tr := transport(t, f, func(c *Config) {
		c.KeepWarm = time.Hour
	})
	tr.maxAge = maxAge
	defer tr.Close()
	connection(t, tr, f, 0)
	auth := filepath.Join(filepath.Dir(f.KnownHosts), "authorized_keys")
	if err := os.WriteFile(auth, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := transport(t, f, nil).Open(context.Background(), host(f, 0)); err == nil {
		t.Fatal("a new login succeeds with the key revoked")
	}
	deadline := time.Now().Add(maxAge + time.Minute)
	for {
		s, err := tr.Open(context.Background(), host(f, 0))
		if err != nil {
			if !strings.Contains(err.Error(), "unable to authenticate") {
				t.Errorf("got %v, want a refused login", err)
			}
			return
		}
		run(t, s, "true")
		s.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the bot still runs commands on the host %s after its key was revoked", maxAge+time.Minute)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMaxAge(t *testing.T) {
	tests := []struct{ keepWarm, want time.Duration }{
		{0, 10 * time.Minute},
		{30 * time.Second, 10 * time.Minute},
		{10 * time.Minute, 10 * time.Minute},
		{time.Hour, time.Hour},
	}
	for _, tt := range tests {
		tr, err := New(Config{User: "deploy", UseAgent: true, AgentSocket: "/nonexistent", InsecureIgnoreHostKey: true, KeepWarm: tt.keepWarm})
		if err != nil {
			t.Fatal(err)
		}
		if tr.maxAge != tt.want {
			t.Errorf("keep_warm %s: connections reused up to %s after their login, want %s", tt.keepWarm, tr.maxAge, tt.want)
		}
	}
}

// TestKeepWarmBastionEndsWithHost: a connection kept warm through a
// bastion gives its login to the bastion up as soon as the host's
// connection ends, rather than hold it, and its keepalives, until
// keep_warm closes what is left: the bastion's connection carries that
// host's alone.
func TestKeepWarmBastionEndsWithHost(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 2, sshd.Options{})
	tr := transport(t, f, func(c *Config) {
		c.Jump = &JumpHost{Address: f.Hosts[0].Addr}
		// Longer than any wait below: a bastion's connection held until
		// keep_warm ends would outlast them all.
		c.KeepWarm = time.Hour
		c.KeepAlive = 300 * time.Millisecond
	})
	defer tr.Close()
	connection(t, tr, f, 1)
	tr.warm.mu.Lock()
	p := tr.warm.idle[poolKey(f.Hosts[1].Name, f.Hosts[1].Addr)]
	tr.warm.mu.Unlock()
	if p == nil || p.c.jump == nil {
		t.Fatal("no connection through the bastion kept warm")
	}
	bastion := make(chan struct{})
	go func() {
		_ = p.c.jump.Wait()
		close(bastion)
	}()

	f.Kill(1)
	select {
	case <-p.c.done:
	case <-time.After(time.Minute):
		t.Fatal("the host's connection did not end within a minute of the host's death")
	}
	select {
	case <-bastion:
	case <-time.After(time.Minute):
		t.Fatal("the connection to the bastion still open a minute after the host's ended, want it closed with it, not at keep_warm's end")
	}
	// Closing it is no loss of the bastion's to report.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if err := p.c.lost(); strings.Contains(err.Error(), "bastion") {
			t.Fatalf("got %v, want no word of the bastion: the host ended", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBastionLost: a step on a host behind a bastion that dies fails
// saying that the bastion was lost, not the host.
func TestBastionLost(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 2, sshd.Options{})
	// No keepalive within the test: only the bastion's connection ending
	// can end the step.
	tr := transport(t, f, func(c *Config) { c.Jump, c.KeepAlive = &JumpHost{Address: f.Hosts[0].Addr}, time.Hour })
	s := open(t, tr, f, 1)
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), deploy.Command{Script: "touch /srv/started; sleep 30"})
		done <- err
	}()
	waitFile(t, filepath.Join(f.Hosts[1].Root, "started"))
	f.Kill(0)
	select {
	case err := <-done:
		if !errors.Is(err, deploy.ErrUnreachable) || !strings.Contains(err.Error(), "connection to the bastion lost") {
			t.Errorf("got %v, want ErrUnreachable saying the bastion was lost", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run still running a minute after the bastion died: its end went unnoticed")
	}
}
