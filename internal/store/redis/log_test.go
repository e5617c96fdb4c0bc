package redis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9/logging"
)

// newTestLogger returns a logger of text lines without the time, and a
// function returning what it wrote. Both are safe for concurrent use, as
// go-redis logs from its own goroutines too.
func newTestLogger(level slog.Level) (*slog.Logger, func() string) {
	var (
		mu  sync.Mutex
		buf bytes.Buffer
	)
	h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	return slog.New(h), func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestSlogLogger(t *testing.T) {
	refused := errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	for _, tc := range []struct {
		name   string
		level  slog.Level
		ctx    context.Context
		format string
		args   []any
		want   string
	}{
		{
			name:   "dial failure",
			ctx:    context.Background(),
			format: "redis: connection pool: failed to dial after %d attempts: %v",
			args:   []any{1, refused},
			want:   `level=WARN msg="connection pool: failed to dial after 1 attempts: dial tcp 127.0.0.1:6379: connect: connection refused" component=redis` + "\n",
		},
		{
			name:   "no redis prefix",
			ctx:    context.Background(),
			format: "sentinel: GetMasterAddrByName name=%q failed: %s",
			args:   []any{"main", "timeout"},
			want:   `level=WARN msg="sentinel: GetMasterAddrByName name=\"main\" failed: timeout" component=redis` + "\n",
		},
		{
			name:   "nil context",
			format: "redis: %s",
			args:   []any{"pool closed"},
			want:   `level=WARN msg="pool closed" component=redis` + "\n",
		},
		{
			name:   "below the level",
			level:  slog.LevelError,
			ctx:    context.Background(),
			format: "redis: %s",
			args:   []any{"pool closed"},
			want:   "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, out := newTestLogger(tc.level)
			slogLogger{log: log}.Printf(tc.ctx, tc.format, tc.args...)
			if got := out(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSetLogger(t *testing.T) {
	// A port nothing listens on: the dial is refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	log, out := newTestLogger(slog.LevelInfo)
	SetLogger(log)
	t.Cleanup(logging.Enable) // back to go-redis's own logger
	SetLogger(nil)            // ignored

	_, err = Open(t.Context(), Options{URL: "redis://bot:hunter2@" + addr + "/0"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open: got %v, want an error wrapping ErrUnavailable", err)
	}
	got := out()
	want := `level=WARN msg="connection pool: failed to dial after 1 attempts: dial tcp ` + addr
	if !strings.Contains(got, want) || !strings.Contains(got, "component=redis") {
		t.Errorf("got log %q, want a line starting %q with component=redis", got, want)
	}
	if strings.Contains(got, "hunter2") {
		t.Errorf("got log %q, want it without the password", got)
	}
}
