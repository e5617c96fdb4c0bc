package ssh

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// TestLinesNameTheRun: what the transport logs while it serves a run (a
// login, a warm connection reused, a host that stopped answering) names
// the run, as the context it was given says (deploy.WithLog): a bot logs
// for many deploys at once, and a transport line without a deploy id
// could not be told apart. A connection kept warm between runs logs as
// the transport, and as the next run once reused.
func TestLinesNameTheRun(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	var buf syncbuf.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr := transport(t, f, func(c *Config) {
		c.KeepWarm = time.Minute
		c.Log = base
	})
	for _, tt := range []struct {
		id   string
		line string
	}{
		{"20261206-101500-aaaaaa", "ssh: connected"},
		{"20261206-101600-bbbbbb", "ssh: reusing a warm connection"},
	} {
		before := len(buf.String())
		runLog := base.With("deploy", tt.id, "app", "web", "env", "prod")
		ctx := deploy.WithLog(context.Background(), runLog)
		s, err := tr.Open(ctx, host(f, 0))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got := s.(*session).conn.logger(); got != runLog {
			t.Errorf("%s: the connection logs as %v, want as the run that opened it (its keepalive warnings name the run)", tt.id, got)
		}
		if _, err := s.Run(ctx, deploy.Command{Script: "true"}); err != nil {
			t.Fatalf("Run: %v", err)
		}
		logged := buf.String()[before:]
		if !strings.Contains(logged, tt.line) {
			t.Errorf("%s: log %q; want %q", tt.id, logged, tt.line)
		}
		for _, line := range strings.Split(strings.TrimSpace(logged), "\n") {
			if !strings.Contains(line, " deploy="+tt.id+" app=web env=prod") {
				t.Errorf("log line %q: want deploy=%s app=web env=prod", line, tt.id)
			}
		}
		c := s.(*session).conn
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got := c.logger(); got != tr.log {
			t.Errorf("%s: a parked connection logs as %v, want as the transport", tt.id, got)
		}
	}
}
