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
			c.ConnectTimeout = 2 * time.Second
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
		c.ConnectTimeout = 2 * time.Second
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
