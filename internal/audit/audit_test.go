package audit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/damagedstore"
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

// counted counts the writes that reach its store.
type counted struct {
	audit.Appender
	tries int
}

func (c *counted) AppendAudit(ctx context.Context, e *audit.Entry) error {
	c.tries++
	return c.Appender.AppendAudit(ctx, e)
}

// TestAppendToAFullStore: the embedded store's disk is full. Append gives
// up after one try, as for a reset store: more tries, seconds apart, do
// not free the disk and only hold the reply back.
func TestAppendToAFullStore(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(disk, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s (needs root): %v: %s", disk, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", disk).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", disk, err, out)
		}
	})
	st, err := embedded.Open(filepath.Join(disk, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f, err := os.Create(filepath.Join(disk, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	for buf := make([]byte, 4096); ; {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	// Entries that need pages of their own use up the file's free pages,
	// until it must grow.
	big := &audit.Entry{User: "ana", Command: strings.Repeat("x", 8<<10), Decision: audit.Allowed}
	var werr error
	for i := 0; werr == nil && i < 1000; i++ {
		werr = st.AppendAudit(t.Context(), big)
	}
	if !errors.Is(werr, deploy.ErrStoreFull) {
		t.Fatalf("writes to the full store: got %v, want it full", werr)
	}

	c := &counted{Appender: st}
	err = audit.Append(t.Context(), c, big)
	if !errors.Is(err, deploy.ErrStoreFull) {
		t.Errorf("Append: got %v, want the store full", err)
	}
	if c.tries != 1 {
		t.Errorf("tries: got %d, want 1", c.tries)
	}
}

// TestAppendToADamagedStore: the embedded store found its file damaged,
// and refuses every call until it is restored. Append gives up after one
// try, as for a full store: more tries only hold the reply back.
func TestAppendToADamagedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st := damagedstore.Open(t, path)

	c := &counted{Appender: st}
	err := audit.Append(t.Context(), c, &audit.Entry{User: "ana", Command: "lock web", Decision: audit.Allowed})
	if !errors.Is(err, deploy.ErrStoreUnusable) || !strings.Contains(err.Error(), "is damaged") {
		t.Errorf("Append: got %v, want the store damaged", err)
	}
	if c.tries != 1 {
		t.Errorf("tries: got %d, want 1", c.tries)
	}
}

// TestFold: entries are shown one per command. A pending entry closed by
// its outcome is left out; one never closed shows as unknown; entries of
// a log written before pending entries existed, and events, are shown as
// they are.
func TestFold(t *testing.T) {
	pending := func(seq uint64, cmd string) audit.Entry {
		return audit.Entry{Seq: seq, User: "ana", Command: cmd, Decision: audit.Pending}
	}
	done := func(seq, intent uint64, cmd string, d audit.Decision) audit.Entry {
		return audit.Entry{Seq: seq, User: "ana", Command: cmd, Decision: d, Intent: intent}
	}
	unknown := audit.Entry{Seq: 1, User: "ana", Command: "lock deploys web", Decision: audit.Unknown, Reason: audit.UnknownReason}
	for _, tt := range []struct {
		name string
		in   []audit.Entry
		want []audit.Entry
	}{
		{"closed", []audit.Entry{done(2, 1, "deploy web 1", audit.Allowed), pending(1, "deploy web 1")},
			[]audit.Entry{done(2, 1, "deploy web 1", audit.Allowed)}},
		{"refused", []audit.Entry{done(2, 1, "deploy web 1", audit.Refused), pending(1, "deploy web 1")},
			[]audit.Entry{done(2, 1, "deploy web 1", audit.Refused)}},
		{"never closed", []audit.Entry{pending(1, "lock deploys web")}, []audit.Entry{unknown}},
		{"outcome alone", []audit.Entry{done(2, 1, "deploy web 1", audit.Allowed)}, []audit.Entry{done(2, 1, "deploy web 1", audit.Allowed)}},
		{"written before pending entries", []audit.Entry{done(2, 0, "deploy web 1", audit.Event), done(1, 0, "deploy web 1", audit.Allowed)},
			[]audit.Entry{done(2, 0, "deploy web 1", audit.Event), done(1, 0, "deploy web 1", audit.Allowed)}},
		{"interleaved", []audit.Entry{done(4, 2, "deploy web 1", audit.Allowed), pending(2, "deploy web 1"), pending(1, "lock deploys web")},
			[]audit.Entry{done(4, 2, "deploy web 1", audit.Allowed), unknown}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := audit.Fold(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestAppendToAClosedStore: a store closed as the bot stops never opens
// again. Append gives up after one try, as for a reset store, with the
// store's reason, rather than hold back for 4 s the reply of a command
// that reached the store too late.
func TestAppendToAClosedStore(t *testing.T) {
	for _, tt := range []struct {
		name string
		open func(t *testing.T) audit.Appender
	}{
		{"embedded", func(t *testing.T) audit.Appender {
			st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			return st
		}},
		{"redis", func(t *testing.T) audit.Appender {
			srv := redisserver.Start(t)
			st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			return st
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &counted{Appender: tt.open(t)}
			start := time.Now()
			err := audit.Append(t.Context(), c, &audit.Entry{User: "ana", Command: "deploy web 42", Decision: audit.Allowed})
			if !errors.Is(err, deploy.ErrStoreClosed) {
				t.Errorf("Append: got %v, want the store closed", err)
			}
			if c.tries != 1 {
				t.Errorf("tries: got %d after %v, want 1", c.tries, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}
