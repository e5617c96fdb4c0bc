package train_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/train"
)

// unendedRefused is a store whose departures that never ended cannot be
// read.
type unendedRefused struct{ train.Store }

func (unendedRefused) Unended(context.Context, string) ([]train.Departure, error) {
	return nil, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

// TestDepartNowNamesUnended: a train depart now says in the channels a
// departure sent off early that the bot died during, and a scheduled one
// it leaves to the scheduler (it may be about to leave on the leader); its
// reply names every one it found, and records it could not read, so that
// it does not pass for one that found nothing else unended. The channels
// are told once that it leaves while a scheduled one has not said what
// became of its cars: they were told nothing of it, and saw a second
// departure leave with no word of the first.
func TestDepartNowNamesUnended(t *testing.T) {
	now := time.Date(2026, 6, 1, 14, 10, 0, 0, time.UTC) // a Monday
	const earlyCut = "The 12:00 train to production was cut short: the bot stopped after it was sent off, before it said what became of its cars."
	tests := []struct {
		name       string
		unended    []train.Departure
		unreadable bool
		// silent: empty: silent, and nobody aboard: the train leaves
		// unannounced, and says nothing of the one it leaves beside.
		silent bool
		level  chat.Level
		lines  []string
		said   []string // posts that a departure was cut short
		beside []string // posts that this one leaves beside a scheduled one, rendered
	}{
		{name: "none found", level: chat.Info},
		{name: "sent off early", unended: []train.Departure{{At: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), Early: true}},
			level: chat.Warning,
			lines: []string{"⚠ The 12:00 train to production, sent off early, was cut short: the bot stopped during it; the train's channels were told."},
			said:  []string{earlyCut}},
		{name: "scheduled", unended: []train.Departure{{At: time.Date(2026, 6, 1, 14, 0, 0, 0, time.UTC)}},
			level: chat.Warning,
			lines: []string{"⚠ The 14:00 train to production has not said what became of its cars: it may be about to leave, after this one, " +
				"or the bot stopped during it; the train's channels were told that this one leaves meanwhile, and are told which, by its next scheduled departure at the latest. " +
				"Whatever is aboard leaves now, with this one; a car whose deploy it was running is reported by deploy recovery (" +
				suggest.Command("status") + " shows it)."},
			beside: []string{"⚠ The 14:10 train to production was sent off early by @ana while the 14:00 train to production has not said what became of its cars.\n" +
				"  That one may be about to leave, after this one, or the bot stopped during it: this channel is told which, by the next scheduled departure at the latest.\n" +
				"  Leaving now, with this one: web 7 (@alice).\n" +
				"  If the bot stopped during it, a car whose deploy was under way then is reported by deploy recovery (" + suggest.Command("status") + " shows it)."}},
		{name: "both", unended: []train.Departure{
			{At: time.Date(2026, 5, 29, 14, 0, 0, 0, time.UTC)},
			{At: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), Early: true},
		},
			level: chat.Warning,
			lines: []string{
				"⚠ The Fri 14:00 train to production has not said what became of its cars: it may be about to leave, after this one, " +
					"or the bot stopped during it; the train's channels were told that this one leaves meanwhile, and are told which, by its next scheduled departure at the latest. " +
					"Whatever is aboard leaves now, with this one; a car whose deploy it was running is reported by deploy recovery (" +
					suggest.Command("status") + " shows it).",
				"⚠ The 12:00 train to production, sent off early, was cut short: the bot stopped during it; the train's channels were told.",
			},
			said: []string{earlyCut},
			beside: []string{"⚠ The 14:10 train to production was sent off early by @ana while the Fri 14:00 train to production has not said what became of its cars.\n" +
				"  That one may be about to leave, after this one, or the bot stopped during it: this channel is told which, by the next scheduled departure at the latest.\n" +
				"  Leaving now, with this one: web 7 (@alice).\n" +
				"  If the bot stopped during it, a car whose deploy was under way then is reported by deploy recovery (" + suggest.Command("status") + " shows it)."}},
		{name: "two scheduled", unended: []train.Departure{
			{At: time.Date(2026, 5, 29, 14, 0, 0, 0, time.UTC)},
			{At: time.Date(2026, 6, 1, 14, 0, 0, 0, time.UTC)},
		},
			level: chat.Warning,
			lines: []string{
				"⚠ The Fri 14:00 train to production has not said what became of its cars: it may be about to leave, after this one, " +
					"or the bot stopped during it; the train's channels were told that this one leaves meanwhile, and are told which, by its next scheduled departure at the latest. " +
					"Whatever is aboard leaves now, with this one; a car whose deploy it was running is reported by deploy recovery (" +
					suggest.Command("status") + " shows it).",
				"⚠ The 14:00 train to production has not said what became of its cars: it may be about to leave, after this one, " +
					"or the bot stopped during it; the train's channels were told that this one leaves meanwhile, and are told which, by its next scheduled departure at the latest. " +
					"Whatever is aboard leaves now, with this one; a car whose deploy it was running is reported by deploy recovery (" +
					suggest.Command("status") + " shows it).",
			},
			beside: []string{"⚠ The 14:10 train to production was sent off early by @ana while the Fri 14:00 train to production and the 14:00 train to production have not said what became of their cars.\n" +
				"  Those may be about to leave, after this one, or the bot stopped during them: this channel is told which, by the next scheduled departure at the latest.\n" +
				"  Leaving now, with this one: web 7 (@alice).\n" +
				"  If the bot stopped during them, a car whose deploy was under way then is reported by deploy recovery (" + suggest.Command("status") + " shows it)."}},
		{name: "scheduled, empty and silent", unended: []train.Departure{{At: time.Date(2026, 6, 1, 14, 0, 0, 0, time.UTC)}}, silent: true,
			level: chat.Warning,
			lines: []string{"⚠ The 14:00 train to production has not said what became of its cars: it may be about to leave, after this one, " +
				"or the bot stopped during it; the train's channels are told which, by its next scheduled departure at the latest. " +
				"Whatever is aboard leaves now, with this one; a car whose deploy it was running is reported by deploy recovery (" +
				suggest.Command("status") + " shows it)."}},
		{name: "unreadable", unreadable: true, level: chat.Warning,
			lines: []string{"⚠ Whether an earlier departure of the train never ended could not be read (state store unreachable): " +
				"one the bot stopped during is said in the train's channels once it can be read."}},
	}
	for _, backend := range sharedStores {
		for _, tc := range tests {
			t.Run(backend.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				clock := testclock.New(now)
				st := backend.open(t, clock.Now)
				cfg := &config.Config{
					Apps: map[string]*config.App{"web": {Name: "web", Envs: map[string]*config.Env{"production": {Name: "production"}}}},
					Trains: map[string]*config.Train{"daily": {Name: "daily", Env: "production", Channels: []string{"#deploys"}, Timezone: "UTC",
						Boarding: "0 10 * * 1-5", Departure: "0 14 * * 1-5", Empty: "note", Grace: config.Duration(15 * time.Minute)}},
				}
				title := "🚂 Sending the daily train to production off now; the summary follows in its channel"
				if tc.silent {
					cfg.Trains["daily"].Empty = "silent"
					title = "🚂 Sending the daily train to production off now; nobody is aboard, so it leaves empty, unannounced (empty: silent)"
				} else if _, err := st.Board(ctx, "daily", train.Car{App: "web", Build: "7", Env: "production", User: "alice", Boarded: now.Add(-time.Hour)}, 0, nil); err != nil {
					t.Fatal(err)
				}
				for _, d := range tc.unended {
					if err := st.StartDeparture(ctx, "daily", d); err != nil {
						t.Fatal(err)
					}
				}
				var store train.Store = st
				if tc.unreadable {
					store = unendedRefused{st}
				}
				var out titles
				s, err := train.New(train.Options{Config: cfg, Store: store, Runner: &countingRunner{}, Notifier: &out, Audit: st,
					Leases: st, Now: clock.Now})
				if err != nil {
					t.Fatal(err)
				}
				m, err := s.DepartNow(ctx, "ana", "daily")
				if err != nil {
					t.Fatalf("DepartNow: %v", err)
				}
				if !tc.silent {
					waitUntil(t, "the departure's summary", func() bool {
						return slices.ContainsFunc(out.snapshot(), func(s string) bool {
							return strings.HasPrefix(s, "🚂 The 14:10 train to production has left")
						})
					})
				}
				// Run, its context ended, returns once the departure has.
				stopped, stop := context.WithCancel(ctx)
				stop()
				if err := s.Run(stopped); err != nil {
					t.Fatal(err)
				}

				if m.Title != title {
					t.Errorf("reply title: got %q, want %q", m.Title, title)
				}
				if m.Level != tc.level || !slices.Equal(m.Lines, tc.lines) {
					t.Errorf("reply: got level %v, lines %q; want %v, %q", m.Level, m.Lines, tc.level, tc.lines)
				}
				var said []string
				for _, title := range out.snapshot() {
					if strings.Contains(title, "cut short") {
						said = append(said, title)
					}
				}
				if !slices.Equal(said, tc.said) {
					t.Errorf("posts saying a departure was cut short: got %q, want %q", said, tc.said)
				}
				var beside []string
				out.mu.Lock()
				for _, m := range out.msgs {
					if strings.Contains(m.Title, "sent off early by") {
						beside = append(beside, renderMessage(m))
					}
				}
				out.mu.Unlock()
				if !slices.Equal(beside, tc.beside) {
					t.Errorf("posts saying this one leaves beside a scheduled one:\ngot  %q\nwant %q", beside, tc.beside)
				}
			})
		}
	}
}

// renderMessage renders m as text: the title, then each line indented.
func renderMessage(m chat.Message) string {
	var b strings.Builder
	b.WriteString(m.Title)
	for _, l := range m.Lines {
		b.WriteString("\n  " + l)
	}
	return b.String()
}
