package ssh

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/leakcheck"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// TestNoLeaks runs steps over many sessions, kept warm or not, to hosts
// that stay, die while their connection is parked, or idle past
// keep_warm, and checks that once the transport is closed no goroutine
// or file of any of it is left: a bot opens sessions all its life.
// Not parallel: other tests' goroutines would count.
func TestNoLeaks(t *testing.T) {
	f := sshd.StartFleet(t, 2, sshd.Options{})
	// jf is a bastion (host 0) and a host behind it (host 1).
	jf := sshd.StartFleet(t, 2, sshd.Options{})
	tests := []struct {
		name     string
		keepWarm time.Duration
		jump     bool
		// after runs once all the sessions are closed.
		after func(t *testing.T, tr *Transport)
	}{
		{name: "not kept warm"},
		{name: "kept warm", keepWarm: time.Minute},
		{name: "kept warm past keep_warm", keepWarm: 100 * time.Millisecond, after: func(t *testing.T, tr *Transport) {
			deadline := time.Now().Add(5 * time.Second)
			for warmCount(tr) > 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}},
		{name: "host dies while its connection is kept warm", keepWarm: time.Minute, after: func(t *testing.T, tr *Transport) {
			f.Kill(1)
			t.Cleanup(func() { f.Start(1) })
		}},
		{name: "through a bastion", jump: true},
		{name: "through a bastion, kept warm", jump: true, keepWarm: time.Minute},
		{name: "bastion dies while a connection through it is kept warm", jump: true, keepWarm: time.Minute, after: func(t *testing.T, tr *Transport) {
			jf.Kill(0)
			t.Cleanup(func() { jf.Start(0) })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := leakcheck.Take(t)
			fleet, hosts := f, []int{0, 1}
			if tt.jump {
				fleet, hosts = jf, []int{1}
			}
			tr := transport(t, fleet, func(c *Config) {
				if tt.jump {
					c.Jump = &JumpHost{Address: jf.Hosts[0].Addr}
				}
				c.KeepWarm = tt.keepWarm
				c.KeepAlive = 200 * time.Millisecond
				c.ConnectTimeout = 2 * time.Second
			})
			for i := range 10 {
				for _, h := range hosts {
					s, err := tr.Open(context.Background(), host(fleet, h))
					if err != nil {
						t.Fatalf("Open %d: %v", i, err)
					}
					run(t, s, "echo shell")
					if _, err := s.Run(context.Background(), deploy.Command{Script: "cat", Stdin: strings.NewReader("session")}); err != nil {
						t.Fatalf("Run with stdin: %v", err)
					}
					if err := s.Close(); err != nil {
						t.Fatalf("Close: %v", err)
					}
				}
				// A host that does not answer: nothing of the attempt stays.
				if _, err := tr.Open(context.Background(), deploy.Host{Name: "gone", Address: "127.0.0.1:1"}); !errors.Is(err, deploy.ErrUnreachable) {
					t.Fatalf("Open of a host that does not answer: got %v, want ErrUnreachable", err)
				}
			}
			if tt.after != nil {
				tt.after(t, tr)
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			snap.Check(t)
		})
	}
}
