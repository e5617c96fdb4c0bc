package train_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
	"github.com/switchman-bot/switchman/internal/train"
)

// recordStore keeps a train's departures and audits what became of them.
type recordStore interface {
	train.Store
	train.Auditor
}

// A departure left unended longer than any catch-up looks back is ended
// in the store, unsaid, and logged as dropped with its time; one within
// it is still said to be cut short. Skipped and kept, the old ones stayed
// in the store for good, one more for each death of the bot.
func TestOldUnendedDepartureDropped(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) recordStore
	}{
		{name: "memory", open: func(*testing.T) recordStore { return train.NewMemStore() }},
		{name: "embedded", open: func(t *testing.T) recordStore {
			st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	}
	now := time.Date(2026, 6, 3, 11, 0, 0, 0, time.UTC)
	old := []train.Departure{
		{At: now.AddDate(0, 0, -60)},
		{At: now.AddDate(0, 0, -50), Early: true},
	}
	recent := train.Departure{At: time.Date(2026, 6, 2, 14, 0, 0, 0, time.UTC)}
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st := tc.open(t)
			for _, d := range append(old, recent) {
				if err := st.StartDeparture(ctx, "daily", d); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := config.Parse(filepath.Join(t.TempDir(), "sw.yaml"), []byte(trainYAML), nil)
			if err != nil {
				t.Fatal(err)
			}
			said := make(chan struct{})
			out := &channel{onPost: func(m chat.Message) {
				if strings.Contains(m.Title, "cut short") {
					close(said)
				}
			}}
			logs := &syncbuf.Buffer{}
			run, stop := context.WithCancel(ctx)
			defer stop()
			sched, err := train.New(train.Options{Config: cfg, Store: st, Runner: noRunner{}, Notifier: out, Audit: st,
				Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(logs, nil)),
				// One look, until the recent departure is said.
				Sleep: func(ctx context.Context, _ time.Time) error {
					select {
					case <-said:
					case <-ctx.Done():
					case <-time.After(time.Minute):
						t.Error("the recent departure was never said to be cut short")
					}
					stop()
					return ctx.Err()
				}})
			if err != nil {
				t.Fatal(err)
			}
			if err := sched.Run(run); err != nil {
				t.Fatalf("Run: %v", err)
			}

			var cut []string
			for _, m := range out.all() {
				if strings.Contains(m, "cut short") {
					cut = append(cut, m)
				}
			}
			if len(cut) != 1 || !strings.Contains(cut[0], "The Tue 14:00 train to production was cut short") {
				t.Errorf("posts of departures cut short: got %q, want the recent one alone", cut)
			}
			left, err := st.Unended(context.Background(), "daily")
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 0 {
				t.Errorf("departures unended after the look: got %v, want none", left)
			}
			for _, d := range old {
				found := false
				for _, line := range strings.Split(logs.String(), "\n") {
					if strings.Contains(line, "level=WARN") && strings.Contains(line, "dropped without saying it was cut short") &&
						strings.Contains(line, d.At.Format("2006-01-02T15:04")) {
						found = true
					}
				}
				if !found {
					t.Errorf("log: no WARN that the departure of %s was dropped: %s", d.At, logs.String())
				}
			}
		})
	}
}
