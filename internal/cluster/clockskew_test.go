package cluster

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// TestLeaderClockSkewedSaidOnce: a replica whose clock is too far from
// Redis's takes no lease, the scheduler's included. The store says so once
// (an ERROR); the election, which tries again every third of the TTL,
// warned each time for as long as the clock stayed off. Once the clock is
// back, the replica leads.
func TestLeaderClockSkewedSaidOnce(t *testing.T) {
	srv := redisserver.Start(t)
	var offset atomic.Int64
	offset.Store(int64(-time.Minute))
	var log syncbuf.Buffer
	lg := slog.New(slog.NewTextHandler(&log, nil))
	st, err := redis.Open(t.Context(), redis.Options{
		URL: srv.URL(), Log: lg, MaxClockSkew: 15 * time.Second,
		Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := &Leader{Leases: st, ID: "a", TTL: time.Minute, Log: lg}
	ctx := context.Background()
	for range 4 { // four rounds of Run, a third of the TTL apart
		l.step(ctx)
	}
	if l.IsLeader() {
		t.Fatal("leads while its clock is a minute behind Redis's")
	}
	var lines []string
	for line := range strings.SplitSeq(strings.TrimSpace(log.String()), "\n") {
		if !strings.Contains(line, "appendonly") { // the test's Redis keeps no file
			lines = append(lines, line)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], "behind the state store's") || !aboutAMinuteBehind(lines[0]) {
		t.Errorf("log while skewed: got %q, want one ERROR naming the skew", lines)
	}

	offset.Store(0)
	if _, err := st.ClockSkew(ctx); err != nil {
		t.Fatal(err)
	}
	l.step(ctx)
	if !l.IsLeader() {
		t.Errorf("does not lead once its clock is back in sync; log:\n%s", log.String())
	}
}

var loggedSkew = regexp.MustCompile(`clock is (\S+) behind .* skew=(\S+) `)

// aboutAMinuteBehind reports whether line names a skew of a minute behind,
// in its message and its skew attribute. The skew is measured against
// Redis's TIME across a round trip, so it is a minute to within that
// round trip, not to the millisecond the log shows.
func aboutAMinuteBehind(line string) bool {
	m := loggedSkew.FindStringSubmatch(line)
	if m == nil {
		return false
	}
	behind, err := time.ParseDuration(m[1])
	if err != nil {
		return false
	}
	skew, err := time.ParseDuration(m[2])
	if err != nil || skew != -behind {
		return false
	}
	d := behind - time.Minute
	return d > -500*time.Millisecond && d < 500*time.Millisecond
}
