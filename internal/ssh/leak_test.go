package ssh

import (
	"context"
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
	tests := []struct {
		name     string
		keepWarm time.Duration
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := leakcheck.Take(t)
			tr := transport(t, f, func(c *Config) {
				c.KeepWarm = tt.keepWarm
				c.KeepAlive = 200 * time.Millisecond
				c.ConnectTimeout = 2 * time.Second
			})
			for i := range 10 {
				for h := range 2 {
					s, err := tr.Open(context.Background(), host(f, h))
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
