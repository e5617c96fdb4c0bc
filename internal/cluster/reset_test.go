package cluster

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// TestLeaderFindsTheStoreReset: Redis loses its data (a FLUSHALL, a restart
// without persistence) under two replicas, one leading. The leader's lease
// went with it, and the store refuses every call until the bot restarts.
// The leader said it "could not renew the scheduler lease; not running
// scheduled jobs until it is", as for a timeout that passes, and the other
// replica warned at every attempt to take the lease, every third of its
// TTL, for as long as it ran. Each now stops leading, or trying to, and
// says once that the store was reset.
func TestLeaderFindsTheStoreReset(t *testing.T) {
	srv := redisserver.Start(t)
	open := func() *redis.Store {
		st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	var logA, logB syncbuf.Buffer
	a := &Leader{Leases: open(), ID: "a", TTL: time.Minute, Log: slog.New(slog.NewTextHandler(&logA, nil))}
	b := &Leader{Leases: open(), ID: "b", TTL: time.Minute, Log: slog.New(slog.NewTextHandler(&logB, nil))}
	ctx := context.Background()
	a.step(ctx)
	b.step(ctx)
	if !a.IsLeader() || b.IsLeader() {
		t.Fatalf("leaders before the reset: a=%v b=%v, want a", a.IsLeader(), b.IsLeader())
	}
	opt, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	if err := c.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	for range 4 { // four rounds of Run, a third of the TTL apart
		a.step(ctx)
		b.step(ctx)
	}
	for _, tt := range []struct {
		name string
		l    *Leader
		log  *syncbuf.Buffer
	}{
		{"leader", a, &logA},
		{"other replica", b, &logB},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.l.IsLeader() {
				t.Error("leads after the store was reset")
			}
			var after []string
			for line := range strings.SplitSeq(strings.TrimSpace(tt.log.String()), "\n") {
				if !strings.Contains(line, "runs scheduled jobs\"") {
					after = append(after, line)
				}
			}
			if len(after) != 1 || !strings.Contains(after[0], "level=ERROR") || !strings.Contains(after[0], resetNote) {
				t.Errorf("log after the reset: got %q, want one ERROR saying %q", after, resetNote)
			}
		})
	}
}

// recordsRecoverer recovers nothing, but reads the running deploys of a
// real store as Recover does first, and counts its calls.
type recordsRecoverer struct {
	st    *redis.Store
	calls atomic.Int32
}

func (r *recordsRecoverer) Recover(ctx context.Context) ([]*deploy.Record, error) {
	r.calls.Add(1)
	_, err := r.st.Records(ctx, deploy.Filter{Outcome: deploy.OutcomeRunning})
	return nil, err
}

// TestWatchInterruptedFindsTheStoreReset: Redis loses its data under a
// replica. Its store refuses every call until the bot restarts, so looking
// for interrupted deploys again every interval only warned, each time,
// for as long as the replica ran. It now says once that the store was
// reset and stops looking.
func TestWatchInterruptedFindsTheStoreReset(t *testing.T) {
	srv := redisserver.Start(t)
	st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opt, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	if err := c.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	var log syncbuf.Buffer
	r := &recordsRecoverer{st: st}
	const interval = 5 * time.Millisecond
	// A generous bound, not a few rounds' worth: on a loaded machine the
	// first round may not have started by then. Once it finds the reset,
	// it stops looking.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	WatchInterrupted(ctx, r, interval, slog.New(slog.NewTextHandler(&log, nil)), func(*deploy.Record) {})
	if ctx.Err() != nil {
		t.Errorf("WatchInterrupted went on until its context ended, want it to return once it found the store reset")
	}
	if n := r.calls.Load(); n != 1 {
		t.Errorf("calls of Recover: got %d, want 1 (the store refuses every later one)", n)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], recoverResetNote) {
		t.Errorf("log: got %d lines, the first %q; want one ERROR saying %q", len(lines), lines[0], recoverResetNote)
	}
}
