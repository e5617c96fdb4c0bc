package ratelog

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
)

// waitLines waits until buf holds n lines and returns them; it fails t
// after a deadline far beyond any window of the tests.
func waitLines(t *testing.T, buf *syncbuf.Buffer, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := strings.TrimSpace(buf.String())
		var lines []string
		if s != "" {
			lines = strings.Split(s, "\n")
		}
		if len(lines) >= n || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(time.Millisecond)
	}
}

// textLog is a logger writing to buf without the time, which the tests
// do not set.
func textLog(buf *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}}))
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
			c := &testclock.Clock{}
			l := &Limiter{Every: tt.every, Now: c.Now}
			for i, call := range tt.calls {
				c.Set(t0.Add(call.at))
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
	c := testclock.New(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	l := &Limiter{Now: c.Now}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	for range 100 {
		l.Warn(log, "slack", "refused a slack request", "reason", "bad signature")
	}
	c.Set(c.Now().Add(DefaultEvery))
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

// TestWarnReportsHeldLines: the last line Warn held back in a window is
// written when the window ends, to its own logger, with the number held
// back before it, unless a line let through first said how many; and
// that report begins a window as a line let through does. The windows
// are on the test's clock; the timer awaiting their end on the system's,
// kept short.
func TestWarnReportsHeldLines(t *testing.T) {
	const every = 10 * time.Millisecond
	type step struct {
		warn    int    // lines of kind to Warn, numbered n=0, 1, ...
		kind    string // default "slack"
		log     int    // index of the logger they go to
		advance bool   // then move the clock on by every
		want    [2][]string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a burst that stops: its last line with the count of those before it", []step{
			{warn: 100, want: [2][]string{{`level=WARN msg=refused kind=slack n=0`}}},
			{advance: true, want: [2][]string{{
				`level=WARN msg=refused kind=slack n=0`,
				`level=WARN msg=refused kind=slack n=99 suppressed=98`,
			}}},
		}},
		{"one line held back: written as it is", []step{
			{warn: 2, advance: true, want: [2][]string{{
				`level=WARN msg=refused kind=slack n=0`,
				`level=WARN msg=refused kind=slack n=1`,
			}}},
		}},
		{"a flood that goes on: one line per window", []step{
			{warn: 10, advance: true, want: [2][]string{{
				`level=WARN msg=refused kind=slack n=0`,
				`level=WARN msg=refused kind=slack n=9 suppressed=8`,
			}}},
			{warn: 10, advance: true, want: [2][]string{{
				`level=WARN msg=refused kind=slack n=0`,
				`level=WARN msg=refused kind=slack n=9 suppressed=8`,
				`level=WARN msg=refused kind=slack n=9 suppressed=9`,
			}}},
		}},
		{"to the logger of the last line held back", []step{
			{warn: 3},
			{warn: 2, log: 1, advance: true, want: [2][]string{
				{`level=WARN msg=refused kind=slack n=0`},
				{`level=WARN msg=refused kind=slack n=1 suppressed=3`},
			}},
		}},
		{"kinds apart", []step{
			{warn: 4},
			{warn: 3, kind: "discord", log: 1, advance: true, want: [2][]string{
				{`level=WARN msg=refused kind=slack n=0`, `level=WARN msg=refused kind=slack n=3 suppressed=2`},
				{`level=WARN msg=refused kind=discord n=0`, `level=WARN msg=refused kind=discord n=2 suppressed=1`},
			}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testclock.New(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
			l := &Limiter{Every: every, Now: c.Now}
			var bufs [2]syncbuf.Buffer
			logs := [2]*slog.Logger{textLog(&bufs[0]), textLog(&bufs[1])}
			for i, s := range tt.steps {
				kind := s.kind
				if kind == "" {
					kind = "slack"
				}
				for n := range s.warn {
					l.Warn(logs[s.log], kind, "refused", "kind", kind, "n", n)
				}
				if s.advance {
					c.Advance(every)
				}
				for j, want := range s.want {
					if want == nil {
						continue
					}
					if got := waitLines(t, &bufs[j], len(want)); strings.Join(got, "\n") != strings.Join(want, "\n") {
						t.Fatalf("step %d, logger %d: got\n%s\nwant\n%s", i, j, strings.Join(got, "\n"), strings.Join(want, "\n"))
					}
				}
			}
		})
	}
}

// TestWarnLetThroughStopsReport: a line let through says how many were
// held back before it, and stops the timer that would have reported
// them.
func TestWarnLetThroughStopsReport(t *testing.T) {
	c := testclock.New(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	// An hour on both clocks: the timer is not due while the test runs.
	l := &Limiter{Every: time.Hour, Now: c.Now}
	var buf syncbuf.Buffer
	log := textLog(&buf)
	for n := range 6 {
		l.Warn(log, "slack", "refused", "n", n)
	}
	c.Advance(time.Hour)
	l.Warn(log, "slack", "refused", "n", 6)
	want := "level=WARN msg=refused n=0\nlevel=WARN msg=refused n=6 suppressed=5\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if k := l.kinds["slack"]; k.timer != nil || k.log != nil {
		t.Errorf("after a line let through: got timer %v, logger %v kept; want neither", k.timer, k.log)
	}
}

// TestFlush: Flush writes at once the last line held back of each kind
// with the count of those before it, stops the timers awaiting them, and
// writes nothing when nothing is held back.
func TestFlush(t *testing.T) {
	c := testclock.New(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	// An hour on both clocks: no timer is due while the test runs.
	l := &Limiter{Every: time.Hour, Now: c.Now}
	var buf syncbuf.Buffer
	log := textLog(&buf)
	for n := range 5 {
		l.Warn(log, "slack", "refused", "kind", "slack", "n", n)
	}
	for n := range 2 {
		l.Warn(log, "discord", "refused", "kind", "discord", "n", n)
	}
	l.Warn(log, "sentry", "refused", "kind", "sentry", "n", 0)
	l.Flush()
	l.Flush()
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	slices.Sort(got)
	want := []string{
		"level=WARN msg=refused kind=discord n=0",
		"level=WARN msg=refused kind=discord n=1",
		"level=WARN msg=refused kind=sentry n=0",
		"level=WARN msg=refused kind=slack n=0",
		"level=WARN msg=refused kind=slack n=4 suppressed=3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, k := range l.kinds {
		if k.timer != nil || k.log != nil {
			t.Errorf("%s after Flush: got timer %v, logger %v kept; want neither", name, k.timer, k.log)
		}
	}
}

// TestWarnConcurrentAccountsForAll: lines of several kinds asked for at
// once from many goroutines, on the system's clock, are each written or
// counted in a line written after them: none is lost when the burst
// stops.
func TestWarnConcurrentAccountsForAll(t *testing.T) {
	const goroutines, each = 16, 200
	kinds := []string{"slack", "discord", "sentry"}
	var buf syncbuf.Buffer
	log := textLog(&buf)
	l := &Limiter{Every: time.Millisecond}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				kind := kinds[(g+i)%len(kinds)]
				l.Warn(log, kind, "refused", "kind", kind)
			}
		})
	}
	wg.Wait()
	want := map[string]int{}
	for g := range goroutines {
		for i := range each {
			want[kinds[(g+i)%len(kinds)]]++
		}
	}
	line := regexp.MustCompile(`kind=(\w+)(?: suppressed=(\d+))?$`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]int{}
		for s := range strings.Lines(buf.String()) {
			m := line.FindStringSubmatch(strings.TrimSpace(s))
			if m == nil {
				t.Fatalf("line %q: not one of the test's", s)
			}
			n, _ := strconv.Atoi(m[2]) // 0 when there is no count
			got[m[1]] += 1 + n
		}
		all := fmt.Sprint(got) == fmt.Sprint(want)
		if all || time.Now().After(deadline) {
			if !all {
				t.Errorf("lines written and held back, by kind: got %v, want %v", got, want)
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
}
