package train

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
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
