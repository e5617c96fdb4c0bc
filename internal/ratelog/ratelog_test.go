package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func TestAllow(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	type call struct {
		at   time.Duration // after t0
		kind string
		ok   bool
		held int
	}
	tests := []struct {
		name  string
		every time.Duration
		calls []call
	}{
		{"the first line at once", 0, []call{{0, "slack", true, 0}}},
		{"a burst: the first, then one per period with the count", 0, []call{
			{0, "slack", true, 0},
			{time.Second, "slack", false, 0},
			{2 * time.Second, "slack", false, 0},
			{DefaultEvery - time.Nanosecond, "slack", false, 0},
			{DefaultEvery, "slack", true, 3},
			{DefaultEvery + time.Second, "slack", false, 0},
			{time.Hour, "slack", true, 1},
			{2 * time.Hour, "slack", true, 0},
		}},
		{"kinds apart", 0, []call{
			{0, "slack", true, 0},
			{0, "discord", true, 0},
			{time.Second, "slack", false, 0},
			{time.Second, "sentry", true, 0},
			{time.Second, "discord", false, 0},
			{DefaultEvery, "slack", true, 1},
			{DefaultEvery + time.Second, "discord", true, 1},
		}},
		{"Every set", time.Minute, []call{
			{0, "slack", true, 0},
			{30 * time.Second, "slack", false, 0},
			{time.Minute, "slack", true, 1},
		}},
		{"a clock set back lets a line through", 0, []call{
			{time.Hour, "slack", true, 0},
			{time.Hour + time.Second, "slack", false, 0},
			{0, "slack", true, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{}
			l := &Limiter{Every: tt.every, Now: c.Now}
			for i, call := range tt.calls {
				c.set(t0.Add(call.at))
				if ok, held := l.Allow(call.kind); ok != call.ok || held != call.held {
					t.Errorf("call %d (%s at +%v): got %v, %d held; want %v, %d", i, call.kind, call.at, ok, held, call.ok, call.held)
				}
			}
		})
	}
}

// TestWarn: of a burst, the first line is written, and the next one
// written says how many were held back.
func TestWarn(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	l := &Limiter{Now: c.Now}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	for range 100 {
		l.Warn(log, "slack", "refused a slack request", "reason", "bad signature")
	}
	c.set(c.Now().Add(DefaultEvery))
	l.Warn(log, "slack", "refused a slack request", "reason", "bad signature")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{`level=WARN msg="refused a slack request" reason="bad signature"`, `reason="bad signature" suppressed=99`} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: got %q, want it to contain %q", i, lines[i], want)
		}
	}
	if strings.Contains(lines[0], "suppressed") {
		t.Errorf("line 0: got %q, want no count: nothing was held back before it", lines[0])
	}
}

// TestZeroLimiterConcurrent: the zero Limiter lets one line of a kind
// through of many asked for at once.
func TestZeroLimiterConcurrent(t *testing.T) {
	var l Limiter
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := map[string]int{}
	for i := range 64 {
		wg.Go(func() {
			kind := []string{"slack", "discord"}[i%2]
			if ok, _ := l.Allow(kind); ok {
				mu.Lock()
				allowed[kind]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed["slack"] != 1 || allowed["discord"] != 1 {
		t.Errorf("lines let through: got %v, want one of each kind", allowed)
	}
}
