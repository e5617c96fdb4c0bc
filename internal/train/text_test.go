package train

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

func TestStamp(t *testing.T) {
	tests := []struct {
		name   string
		t, ref time.Time
		want   string
	}{
		{name: "this year", t: at(2026, 6, 2, 14, 0), ref: at(2026, 6, 1, 9, 0), want: "Tue 2 Jun 14:00 CEST"},
		{name: "a leap day years away", t: at(2028, 2, 29, 14, 0), ref: at(2026, 12, 6, 5, 0), want: "Tue 29 Feb 2028 14:00 CET"},
		{name: "next year, days away", t: at(2027, 1, 4, 14, 0), ref: at(2026, 12, 31, 14, 0), want: "Mon 4 Jan 2027 14:00 CET"},
		{name: "last year", t: at(2025, 12, 31, 14, 0), ref: at(2026, 1, 2, 9, 0), want: "Wed 31 Dec 2025 14:00 CET"},
		{
			// 23:30 UTC on 31 December is already the new year in Warsaw.
			name: "the year of ref in the train's zone", t: at(2027, 1, 1, 14, 0),
			ref: time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC), want: "Fri 1 Jan 14:00 CET",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := stamp(tc.t, tc.ref, warsaw); got != tc.want {
				t.Errorf("stamp(%v, %v): got %q, want %q", tc.t, tc.ref, got, tc.want)
			}
		})
	}
}

// TestRepliesShowTheYear: a departure in another year than the clock's
// says which, in train, train board and the train's label.
func TestRepliesShowTheYear(t *testing.T) {
	leap := func(c *config.Config) {
		c.Trains = map[string]*config.Train{"leap": {
			Name: "leap", Env: "production", Channels: []string{"#deploys"}, Timezone: "Europe/Warsaw",
			Boarding: "0 10 29 2 *", Departure: "0 14 29 2 *", Empty: "note", Grace: config.Duration(15 * time.Minute),
		}}
	}
	tests := []struct {
		name string
		now  time.Time
		do   func(h *harness) (string, error)
		want string
	}{
		{
			name: "train", now: at(2026, 12, 6, 5, 27),
			do:   func(h *harness) (string, error) { m, err := h.s.List(t.Context()); return render(m), err },
			want: "🚂 Trains\n  leap → production: next departure Tue 29 Feb 2028 14:00 CET; nobody aboard",
		},
		{
			name: "train in the leap year", now: at(2028, 1, 10, 9, 0),
			do:   func(h *harness) (string, error) { m, err := h.s.List(t.Context()); return render(m), err },
			want: "🚂 Trains\n  leap → production: next departure Tue 29 Feb 14:00 CET; nobody aboard",
		},
		{
			name: "train board", now: at(2026, 12, 6, 5, 27),
			do: func(h *harness) (string, error) {
				m, err := h.s.Board(t.Context(), "alice", "leap", "accounting", "1338", "")
				return render(m), err
			},
			want: "🎫 accounting 1338 boarded the Tue 29 Feb 2028 14:00 train to production (car 1 of 1)",
		},
		{
			name: "train board in the leap year", now: at(2028, 2, 1, 9, 0),
			do: func(h *harness) (string, error) {
				m, err := h.s.Board(t.Context(), "alice", "leap", "accounting", "1338", "")
				return render(m), err
			},
			want: "🎫 accounting 1338 boarded the Tue 29 Feb 14:00 train to production (car 1 of 1)",
		},
		{
			name: "label of next year's departure within a week", now: at(2026, 12, 31, 9, 0),
			do: func(h *harness) (string, error) {
				return h.s.label(h.s.trains["leap"], at(2027, 1, 5, 14, 0), h.clock.Now()), nil
			},
			want: "Tue 14:00 train to production",
		},
		{
			name: "label of a departure missed last year", now: at(2029, 1, 3, 9, 0),
			do: func(h *harness) (string, error) {
				return h.s.label(h.s.trains["leap"], at(2028, 2, 29, 14, 0), h.clock.Now()), nil
			},
			want: "Tue 29 Feb 2028 14:00 train to production",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.now, leap)
			got, err := tc.do(h)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestDurationsSaidAsPeopleSayThem: a grace or a deploy_timeout in a
// train's message reads "15 minutes", "1 hour", not "15m0s", "1h0m0s".
func TestDurationsSaidAsPeopleSayThem(t *testing.T) {
	tests := []struct {
		name  string
		grace time.Duration
		want  string
	}{
		{"minutes", 15 * time.Minute, "The 14:00 train to production did not leave: an earlier departure of the train was under way for all of its grace (15 minutes). The cars stay aboard."},
		{"an hour", time.Hour, "The 14:00 train to production did not leave: an earlier departure of the train was under way for all of its grace (1 hour). The cars stay aboard."},
		{"hours and minutes", 90 * time.Minute, "The 14:00 train to production did not leave: an earlier departure of the train was under way for all of its grace (1 hour 30 minutes). The cars stay aboard."},
		{"seconds", 90 * time.Second, "The 14:00 train to production did not leave: an earlier departure of the train was under way for all of its grace (1m30s). The cars stay aboard."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 14, 30), func(c *config.Config) { c.Trains["daily"].Grace = config.Duration(tc.grace) })
			d := due{name: "daily", tr: h.s.trains["daily"], kind: KindDeparture, at: at(2026, 6, 2, 14, 0)}
			h.s.outwaited(t.Context(), d, "an earlier departure of the train was under way", nil, false)
			if got := h.notes.titles("#deploys"); len(got) != 1 || got[0] != tc.want {
				t.Errorf("posts: got %q, want %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{time.Hour, "1 hour"}, {2 * time.Hour, "2 hours"}, {45 * time.Minute, "45 minutes"}, {20 * time.Millisecond, "20ms"}, {90 * time.Second, "1m30s"},
	} {
		if got := spoken(tc.d); got != tc.want {
			t.Errorf("spoken(%v): got %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestWithLostNamesTheCars: the cars a departure could not put back
// aboard are named, the first few, so that people know which to board
// again; the rest are counted. Why they could not be is a sentence of
// its own, in the words of the departure's other store failures: it
// used to be in brackets, with a plain store error's generic reason,
// "internal error (details are in the bot's log)", nested in them.
func TestWithLostNamesTheCars(t *testing.T) {
	cars := []Car{
		{App: "accounting", Build: "1338", User: "alice"}, {App: "billing", Build: "77", User: "bob"},
		{App: "search", Build: "5", User: "carl"}, {App: "mail", Build: "1", User: "dora"},
		{App: "web", Build: "2", User: "ana"},
	}
	down := errors.New("store down")
	tests := []struct {
		name string
		lost error
		back []Car
		want string
	}{
		{name: "one", lost: down, back: cars[:1],
			want: "⚠ 1 car could not be put back aboard: state store unreachable. It is off the train until boarded again: accounting 1338 (@alice). " +
				"To board it again, @alice sends " + suggest.Command("train board accounting 1338 on daily") + " (a car boards as whoever sends the command)."},
		{name: "as many as are named", lost: down, back: cars[:3],
			want: "⚠ 3 cars could not be put back aboard: state store unreachable. " +
				"They are off the train until boarded again: accounting 1338 (@alice), billing 77 (@bob), search 5 (@carl). " +
				"To board again, each by whoever boarded it: @alice " + suggest.Command("train board accounting 1338 on daily") +
				", @bob " + suggest.Command("train board billing 77 on daily") + ", @carl " + suggest.Command("train board search 5 on daily") +
				" (a car boards as whoever sends the command)."},
		{name: "more than are named", lost: down, back: cars,
			want: "⚠ 5 cars could not be put back aboard: state store unreachable. " +
				"They are off the train until boarded again: accounting 1338 (@alice), billing 77 (@bob), search 5 (@carl), and 2 more. " +
				"To board again, each by whoever boarded it: @alice " + suggest.Command("train board accounting 1338 on daily") +
				", @bob " + suggest.Command("train board billing 77 on daily") + ", @carl " + suggest.Command("train board search 5 on daily") +
				" (a car boards as whoever sends the command)."},
		{name: "the store's own reason, ending a sentence already",
			lost: fmt.Errorf("return cars to daily: %w", errs.New(errs.Unavailable, "state store redis at 127.0.0.1:6379 refuses writes: OOM command not allowed when used memory > 'maxmemory'.")),
			back: cars[:1],
			want: "⚠ 1 car could not be put back aboard: state store redis at 127.0.0.1:6379 refuses writes: OOM command not allowed when used memory > 'maxmemory'. " +
				"It is off the train until boarded again: accounting 1338 (@alice). " +
				"To board it again, @alice sends " + suggest.Command("train board accounting 1338 on daily") + " (a car boards as whoever sends the command)."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := withLost(chat.Message{Level: chat.Success, Lines: []string{"✅ web 1 (@ana): deploy d1 succeeded"}}, tc.lost, tc.back, "daily")
			if len(m.Lines) != 2 || m.Lines[1] != tc.want {
				t.Errorf("lines:\ngot  %q\nwant the shipped line then %q", m.Lines, tc.want)
			}
			if m.Level != chat.Failure {
				t.Errorf("level: got %q, want %q", m.Level, chat.Failure)
			}
		})
	}
	if m := withLost(chat.Message{Level: chat.Success}, nil, cars, "daily"); m.Level != chat.Success || len(m.Lines) != 0 {
		t.Errorf("with every car put back: got level %q, lines %q; want %q, none", m.Level, m.Lines, chat.Success)
	}
}
