package audit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// briefly fails its first down writes, as a store briefly unreachable
// does, and then writes to the real store.
type briefly struct {
	*embedded.Store
	down  int
	reset bool // the store was found reset: every write fails so
	tries int
}

func (b *briefly) AppendAudit(ctx context.Context, e *audit.Entry) error {
	b.tries++
	if b.reset {
		return fmt.Errorf("append audit: %w", deploy.ErrStoreReset)
	}
	if b.down > 0 {
		b.down--
		return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return b.Store.AppendAudit(ctx, e)
}

func TestAppend(t *testing.T) {
	tests := []struct {
		name     string
		down     int
		canceled bool // the request ended before the write
		reset    bool
		written  bool
		tries    int
	}{
		{name: "store up", written: true, tries: 1},
		{name: "one write fails", down: 1, written: true, tries: 2},
		{name: "two writes fail", down: audit.Tries - 1, written: true, tries: 3},
		{name: "every write fails", down: audit.Tries, tries: 3},
		{name: "request ended", canceled: true, written: true, tries: 1},
		{name: "store reset", reset: true, tries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			if tt.canceled {
				cancel()
			}
			defer cancel()
			b := &briefly{Store: st, down: tt.down, reset: tt.reset}
			err = audit.Append(ctx, b, &audit.Entry{User: "ana", Command: "deploy web 42", Decision: audit.Allowed})
			if (err == nil) != tt.written {
				t.Errorf("Append: got %v, want written %v", err, tt.written)
			}
			if b.tries != tt.tries {
				t.Errorf("tries: got %d, want %d", b.tries, tt.tries)
			}
			got, err := st.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1}[tt.written]; len(got) != want {
				t.Errorf("entries: got %d, want %d", len(got), want)
			}
		})
	}
}

// TestAppendOutlastsARedisRestart: a Redis restarted under the bot (a
// failover, a restart of the service) answers again within seconds; an
// entry written meanwhile is tried until then, within Timeout, not given
// up after the first second.
func TestAppendOutlastsARedisRestart(t *testing.T) {
	srv := redisserver.StartWith(t, redisserver.Options{AppendOnly: true})
	st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv.Stop()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- audit.Append(t.Context(), st, &audit.Entry{User: "ana", Command: "deploy web 42", Decision: audit.Allowed})
	}()
	time.Sleep(2 * time.Second) // the store is down for two seconds
	srv.Restart(t)
	if err := <-done; err != nil {
		t.Fatalf("Append across a restart 2s long: got %v after %v, want it written", err, time.Since(start).Round(time.Millisecond))
	}
	got, err := st.Audit(t.Context(), audit.Query{})
	if err != nil || len(got) != 1 {
		t.Errorf("entries: got %d (%v), want 1", len(got), err)
	}
}

// lostAnswer writes its first entry and then fails, as a write whose
// answer was lost on the way back does; later writes go through.
type lostAnswer struct {
	*redis.Store
	tries int
}

func (l *lostAnswer) AppendAudit(ctx context.Context, e *audit.Entry) error {
	l.tries++
	err := l.Store.AppendAudit(ctx, e)
	if l.tries == 1 && err == nil {
		return errors.New("read tcp 127.0.0.1:6379: i/o timeout")
	}
	return err
}

// TestAppendOnceWhenAnAnswerIsLost: a try of Append that Redis applied,
// but whose answer never came, is not appended again by the next try:
// the audit log shows a command once.
func TestAppendOnceWhenAnAnswerIsLost(t *testing.T) {
	srv := redisserver.Start(t)
	st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := &lostAnswer{Store: st}
	if err := audit.Append(t.Context(), l, &audit.Entry{User: "ana", Command: "deploy web 42", Decision: audit.Allowed}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if l.tries != 2 {
		t.Fatalf("tries: got %d, want 2 (the test lost no answer)", l.tries)
	}
	got, err := st.Audit(t.Context(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Errorf("entries: got %d, want 1: %+v", len(got), got)
	}
}
