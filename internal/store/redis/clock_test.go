package redis_test

import (
	"bytes"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// skewedStore opens a store whose clock is the real one plus *offset, in
// nanoseconds, with the bound of a 30 s lease_ttl.
func skewedStore(t *testing.T, srv *redisserver.Server, offset *atomic.Int64, log *syncBuffer) *redis.Store {
	t.Helper()
	return openStore(t, redis.Options{
		URL: srv.URL(), Prefix: newPrefix(),
		Now:          func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
		MaxClockSkew: 30 * time.Second / 4,
		Log:          slog.New(slog.NewTextHandler(log, nil)),
	})
}

var refusedSkew = regexp.MustCompile(`clock is (\S+) (behind|ahead of) the state store's`)

func TestClockSkew(t *testing.T) {
	srv := redisserver.Start(t)
	for _, tc := range []struct {
		name    string
		offset  time.Duration
		level   string // logged at Open; "" none
		refused string // the way Acquire's error says the clock is off; "" taken
	}{
		{name: "in sync", offset: 0},
		{name: "small skew warns", offset: -3 * time.Second, level: "level=WARN"},
		{name: "large skew behind", offset: -40 * time.Second, level: "level=ERROR", refused: "behind"},
		{name: "large skew ahead", offset: 40 * time.Second, level: "level=ERROR", refused: "ahead of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var offset atomic.Int64
			offset.Store(int64(tc.offset))
			var log syncBuffer
			s := skewedStore(t, srv, &offset, &log)
			skew, err := s.ClockSkew(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if d := skew - tc.offset; d > 500*time.Millisecond || d < -500*time.Millisecond {
				t.Errorf("got skew %v, want about %v", skew, tc.offset)
			}
			logged := log.String()
			for _, lv := range []string{"level=WARN", "level=ERROR"} {
				if got, want := clockLines(logged, lv), 0; lv == tc.level {
					want = 1
					if got != want {
						t.Errorf("got %d %s lines after two checks, want %d:\n%s", got, lv, want, logged)
					}
				} else if got != want {
					t.Errorf("got %d %s lines, want %d:\n%s", got, lv, want, logged)
				}
			}
			l, err := s.Acquire(t.Context(), deploy.LeaseKey("web", "prod"), "r1", 30*time.Second)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("Acquire: got %v, want the lease", err)
				}
				l.Release(t.Context())
				return
			}
			if err == nil {
				t.Fatal("Acquire: got the lease, want a refusal for the clock")
			}
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Unavailable {
				t.Errorf("Acquire: got %v, want code %s", err, errs.Unavailable)
			}
			// The skew is measured across a round trip to Redis: 40s to
			// within it, not to the millisecond the message shows.
			m := refusedSkew.FindStringSubmatch(errs.Message(err))
			if m == nil || m[2] != tc.refused {
				t.Errorf("Acquire: got %q, want it to say the clock is %s the state store's", errs.Message(err), tc.refused)
			} else if d, perr := time.ParseDuration(m[1]); perr != nil || d-40*time.Second > 500*time.Millisecond || d-40*time.Second < -500*time.Millisecond {
				t.Errorf("Acquire: got %q, want about 40s %s the state store's", errs.Message(err), tc.refused)
			}
			for _, want := range []string{"7.5s allowed", "chrony or ntp"} {
				if !strings.Contains(errs.Message(err), want) {
					t.Errorf("Acquire: got %q, want it to say %q", errs.Message(err), want)
				}
			}
			if err := s.ClockError(t.Context()); err == nil {
				t.Error("ClockError: got nil, want the skew")
			}
		})
	}
}

// A deploy's lease is refused while the clock is off and taken again once
// it is back, and the changes are logged once each; a lease already held
// is renewed all along.
func TestClockSkewRecovers(t *testing.T) {
	srv := redisserver.Start(t)
	var offset atomic.Int64
	var log syncBuffer
	s := skewedStore(t, srv, &offset, &log)
	held, err := s.Acquire(t.Context(), deploy.LeaseKey("web", "staging"), "r1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	key := deploy.LeaseKey("web", "prod")

	offset.Store(int64(-20 * time.Second))
	for range 2 {
		if _, err := s.ClockSkew(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Acquire(t.Context(), key, "r1", 30*time.Second); err == nil || !strings.Contains(errs.Message(err), "behind the state store's") {
		t.Fatalf("Acquire while skewed: got %v, want the clock refusal", err)
	}
	if err := held.Renew(t.Context()); err != nil {
		t.Errorf("Renew while skewed: got %v, want nil", err)
	}
	if got := clockLines(log.String(), "level=ERROR"); got != 1 {
		t.Errorf("got %d ERROR lines, want 1:\n%s", got, log.String())
	}

	offset.Store(0)
	if _, err := s.ClockSkew(t.Context()); err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(t.Context(), key, "r1", 30*time.Second)
	if err != nil {
		t.Fatalf("Acquire back in sync: got %v, want the lease", err)
	}
	l.Release(t.Context())
	if err := s.ClockError(t.Context()); err != nil {
		t.Errorf("ClockError back in sync: got %v, want nil", err)
	}
	if !strings.Contains(log.String(), "back in sync") {
		t.Errorf("got no line saying the clock is back in sync:\n%s", log.String())
	}
}

// clockLines counts the lines of log at level that are about the clock.
func clockLines(log, level string) int {
	n := 0
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, level) && strings.Contains(line, "clock") {
			n++
		}
	}
	return n
}
