package train

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestRunSchedules drives Run through days of fake time and checks which
// events fired, and when, from the MarkRun log.
func TestRunSchedules(t *testing.T) {
	night := func(c *config.Config) {
		c.Trains = map[string]*config.Train{"night": {
			Name: "night", Env: "production", Channels: []string{"#ops"}, Timezone: "Europe/Warsaw",
			Boarding: "0 1 * * *", Departure: "30 2 * * *", Empty: "silent", Grace: config.Duration(15 * time.Minute),
		}}
	}
	daily := func(c *config.Config) {
		t := dailyTrain()
		t.Boarding, t.Reminder, t.Departure = "0 12 * * *", "", "0 14 * * *"
		c.Trains = map[string]*config.Train{"daily": t}
	}
	tests := []struct {
		name       string
		edit       func(*config.Config)
		start, end time.Time
		want       []string
	}{
		{
			name: "02:30 across the spring change", edit: night,
			start: at(2026, 3, 28, 3, 0), end: at(2026, 3, 30, 3, 0),
			want: []string{
				"Sun 2026-03-29 01:00 CET night boarding",
				"Sun 2026-03-29 03:00 CEST night departure",
				"Mon 2026-03-30 01:00 CEST night boarding",
				"Mon 2026-03-30 02:30 CEST night departure",
			},
		},
		{
			name: "02:30 across the autumn change", edit: night,
			start: at(2026, 10, 24, 3, 0), end: at(2026, 10, 26, 3, 0),
			want: []string{
				"Sun 2026-10-25 01:00 CEST night boarding",
				"Sun 2026-10-25 02:30 CEST night departure",
				"Mon 2026-10-26 01:00 CET night boarding",
				"Mon 2026-10-26 02:30 CET night departure",
			},
		},
		{
			name: "14:00 across the spring change", edit: daily,
			start: at(2026, 3, 28, 13, 0), end: at(2026, 3, 29, 23, 0),
			want: []string{
				"Sat 2026-03-28 14:00 CET daily departure",
				"Sun 2026-03-29 12:00 CEST daily boarding",
				"Sun 2026-03-29 14:00 CEST daily departure",
			},
		},
		{
			name: "14:00 across the autumn change", edit: daily,
			start: at(2026, 10, 24, 13, 0), end: at(2026, 10, 25, 23, 0),
			want: []string{
				"Sat 2026-10-24 14:00 CEST daily departure",
				"Sun 2026-10-25 12:00 CET daily boarding",
				"Sun 2026-10-25 14:00 CET daily departure",
			},
		},
		{
			name:  "weekdays only",
			start: at(2026, 6, 5, 9, 0), end: at(2026, 6, 8, 23, 0), // Friday to Monday
			want: []string{
				"Fri 2026-06-05 10:00 CEST daily boarding",
				"Fri 2026-06-05 13:45 CEST daily reminder",
				"Fri 2026-06-05 14:00 CEST daily departure",
				"Mon 2026-06-08 10:00 CEST daily boarding",
				"Mon 2026-06-08 13:45 CEST daily reminder",
				"Mon 2026-06-08 14:00 CEST daily departure",
			},
		},
		{
			name: "two trains on different schedules",
			edit: func(c *config.Config) {
				c.Trains["weekly"] = &config.Train{
					Name: "weekly", Env: "staging", Channels: []string{"#staging"}, Timezone: "America/New_York",
					Boarding: "0 6 * * 3", Departure: "0 9 * * 3", Empty: "note",
				}
			},
			start: at(2026, 6, 3, 9, 0), end: at(2026, 6, 4, 0, 0), // a Wednesday
			want: []string{
				"Wed 2026-06-03 10:00 CEST daily boarding",
				"Wed 2026-06-03 06:00 EDT weekly boarding", // 12:00 in Warsaw
				"Wed 2026-06-03 13:45 CEST daily reminder",
				"Wed 2026-06-03 14:00 CEST daily departure",
				"Wed 2026-06-03 09:00 EDT weekly departure", // 15:00 in Warsaw
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.start, tc.edit)
			h.run(tc.end)
			if got := h.store.Marks(); !slices.Equal(got, tc.want) {
				t.Errorf("events:\ngot  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRunAnnouncements(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 9, 0), func(c *config.Config) {
		c.Trains["daily"].Channels = []string{"#deploys", "#releases"}
	})
	h.run(at(2026, 6, 2, 10, 30))
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	h.run(at(2026, 6, 2, 14, 30))
	want := []string{
		"🚂 The 14:00 train to production is boarding. Nobody is aboard yet: train board APP BUILD.",
		"⏰ The 14:00 train to production leaves in 15 minutes: accounting 1338 (@alice), billing 77 (@bob).",
		"🚂 The 14:00 train to production is leaving with 2 cars: accounting 1338 (@alice), billing 77 (@bob).",
		"🚂 The 14:00 train to production has left: 2 shipped",
	}
	if got := h.notes.titles("#releases"); !slices.Equal(got, want) {
		t.Errorf("announcements in #releases:\ngot  %q\nwant %q", got, want)
	}
	// The cars' own messages go to the first channel only.
	wantDeploys := []string{
		"🚂 The 14:00 train to production is boarding. Nobody is aboard yet: train board APP BUILD.",
		"⏰ The 14:00 train to production leaves in 15 minutes: accounting 1338 (@alice), billing 77 (@bob).",
		"🚂 The 14:00 train to production is leaving with 2 cars: accounting 1338 (@alice), billing 77 (@bob).",
		"Deploying accounting 1338 to production (deploy d1)",
		"Deploy d1: accounting/production now runs 1338 (1m0s)",
		"Deploying billing 77 to production (deploy d2)",
		"Deploy d2: billing/production now runs 77 (1m0s)",
		"🚂 The 14:00 train to production has left: 2 shipped",
	}
	if got := h.notes.titles("#deploys"); !slices.Equal(got, wantDeploys) {
		t.Errorf("messages in #deploys:\ngot  %q\nwant %q", got, wantDeploys)
	}
	wantReqs := []string{
		"alice@#deploys via train: deploy accounting 1338 to production",
		"bob@#deploys via train: deploy billing 77 to production",
	}
	if got := h.runner.texts(); !slices.Equal(got, wantReqs) {
		t.Errorf("commands run:\ngot  %q\nwant %q", got, wantReqs)
	}
	if got := h.aboard("daily"); len(got) != 0 {
		t.Errorf("aboard after the departure: got %q, want nobody", got)
	}
}

func TestBoardingNamesTheDay(t *testing.T) {
	h := newHarness(t, at(2026, 6, 5, 14, 30), func(c *config.Config) { c.Trains["daily"].Boarding = "0 15 * * 5" })
	h.run(at(2026, 6, 5, 15, 30))
	want := []string{"🚂 The Mon 14:00 train to production is boarding. Nobody is aboard yet: train board APP BUILD."}
	if got := h.notes.titles("#deploys"); !slices.Equal(got, want) {
		t.Errorf("Friday's boarding for Monday:\ngot  %q\nwant %q", got, want)
	}
}

// TestAnnouncementsInSkippedHour: a night train whose boarding, reminder
// and departure all fall in the hour a spring-forward change skips runs
// them all when the clock jumps, in order; the announcements are about
// that departure, not the next night's.
func TestAnnouncementsInSkippedHour(t *testing.T) {
	tests := []struct {
		name, tz   string
		start, end time.Time
		want       []string
	}{
		{
			name: "Warsaw", tz: "Europe/Warsaw",
			start: at(2026, 3, 28, 23, 0), end: at(2026, 3, 29, 4, 0),
			want: []string{
				"🚂 The 03:00 train to production is boarding. Nobody is aboard yet: train board APP BUILD.",
				"⏰ The 03:00 train to production leaves in 0 minutes. Nobody is aboard yet: train board APP BUILD.",
				"🚂 The 03:00 train to production left empty: nobody was aboard.",
			},
		},
		{
			name: "New York", tz: "America/New_York",
			start: time.Date(2026, 3, 7, 23, 0, 0, 0, mustLoad("America/New_York")), end: time.Date(2026, 3, 8, 4, 0, 0, 0, mustLoad("America/New_York")),
			want: []string{
				"🚂 The 03:00 train to production is boarding. Nobody is aboard yet: train board APP BUILD.",
				"⏰ The 03:00 train to production leaves in 0 minutes. Nobody is aboard yet: train board APP BUILD.",
				"🚂 The 03:00 train to production left empty: nobody was aboard.",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.start, func(c *config.Config) {
				tr := c.Trains["daily"]
				tr.Timezone, tr.Boarding, tr.Reminder, tr.Departure = tc.tz, "0 2 * * *", "15 2 * * *", "30 2 * * *"
			})
			h.run(tc.end)
			if got := h.notes.titles("#deploys"); !slices.Equal(got, tc.want) {
				t.Errorf("announcements:\ngot  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRunEmptySilent(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 9, 0), func(c *config.Config) { c.Trains["daily"].Empty = "silent" })
	h.run(at(2026, 6, 2, 15, 0))
	if n := h.notes.count(); n != 0 {
		t.Errorf("an empty silent train: got %d posts %q, want none", n, h.notes.titles("#deploys"))
	}
	if got := len(h.store.Marks()); got != 3 {
		t.Errorf("events of an empty silent train: got %d, want 3 (they run, quietly)", got)
	}
}

func TestRunHolidayFreeze(t *testing.T) {
	h := newHarness(t, at(2026, 12, 23, 15, 0), nil)
	h.gate.holidays = map[string]bool{"2026-12-24": true, "2026-12-25": true}
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	h.run(at(2026, 12, 24, 15, 0)) // Thursday
	msgs := h.notes.find("#deploys", "🚂 The 14:00 train to production is postponed")
	if len(msgs) != 1 {
		t.Fatalf("postponement messages: got %d, want 1; titles %q", len(msgs), h.notes.titles("#deploys"))
	}
	want := "🚂 The 14:00 train to production is postponed: production is frozen for the holidays until 28 Dec\n" +
		"  accounting 1338 (@alice), billing 77 (@bob) move to the next train, Fri 25 Dec 14:00 CET."
	if got := render(msgs[0]); got != want {
		t.Errorf("postponement:\ngot  %s\nwant %s", got, want)
	}
	if got := h.runner.texts(); len(got) != 0 {
		t.Errorf("deploys during the freeze: got %q, want none", got)
	}
	h.board("carl", "search", "5") // boards behind the postponed cars
	h.run(at(2026, 12, 28, 15, 0)) // frozen on Friday too; Monday ships
	wantReqs := []string{
		"alice@#deploys via train: deploy accounting 1338 to production",
		"bob@#deploys via train: deploy billing 77 to production",
		"carl@#deploys via train: deploy search 5 to production",
	}
	if got := h.runner.texts(); !slices.Equal(got, wantReqs) {
		t.Errorf("deploys after the freeze:\ngot  %q\nwant %q", got, wantReqs)
	}
	if n := len(h.notes.find("#deploys", "🚂 The 14:00 train to production is postponed")); n != 2 {
		t.Errorf("postponements: got %d, want 2 (Thursday and Friday)", n)
	}
}

func TestRunNotLeader(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 9, 0), nil)
	h.board("alice", "accounting", "1338")
	h.leader = false
	h.run(at(2026, 6, 3, 15, 0))
	if got := h.store.Marks(); len(got) != 0 {
		t.Errorf("events on a follower: got %q, want none", got)
	}
	if n := h.notes.count(); n != 0 {
		t.Errorf("posts on a follower: got %q, want none", h.notes.titles("#deploys"))
	}
	if got := h.runner.texts(); len(got) != 0 {
		t.Errorf("deploys on a follower: got %q, want none", got)
	}
	if got := h.aboard("daily"); !slices.Equal(got, []string{"accounting 1338"}) {
		t.Errorf("aboard: got %q, want the car still there", got)
	}
}

// TestTakeOver: the leader died before the departure; the replica that
// takes over a few minutes later runs it late, within the grace period.
func TestTakeOver(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 13, 50), nil)
	h.board("alice", "accounting", "1338")
	// The old leader ran yesterday's departure and today's reminder.
	for kind, when := range map[string]time.Time{KindDeparture: at(2026, 6, 1, 14, 0), KindReminder: at(2026, 6, 2, 13, 45)} {
		if err := h.store.MarkRun(t.Context(), "daily", kind, when); err != nil {
			t.Fatal(err)
		}
	}
	h.leaderFrom = at(2026, 6, 2, 14, 4)
	h.run(at(2026, 6, 2, 14, 30))
	if got := h.runner.texts(); len(got) != 1 {
		t.Fatalf("deploys: got %q, want accounting's", got)
	}
	if got := h.notes.find("#deploys", "🚂 The 14:00 train to production is leaving"); len(got) != 1 ||
		!slices.Equal(got[0].Lines, []string{"running the 14:00 departure late (the bot was down)"}) {
		t.Errorf("departure: got %v, want it late with a note", got)
	}
	if want := at(2026, 6, 2, 14, 4); !slices.ContainsFunc(h.wakes, want.Equal) {
		t.Errorf("wakes: got %v, want one at %v", h.wakes, want)
	}
}

// TestStartJustAfterDepartureAsFollower: a bot (sharing its store, so
// leading only once its leader lease is taken) restarts seconds after a
// departure time; the lease is taken a moment after the scheduler first
// looks. The departure is up to a minute late, so it runs, as it would
// for a bot leading from its first look, even with grace: 0s.
func TestStartJustAfterDepartureAsFollower(t *testing.T) {
	tests := []struct {
		name    string
		restart time.Duration // after the departure time
		lease   time.Duration // after the restart
	}{
		{"restarted 5 s after, leading at once", 5 * time.Second, time.Millisecond},
		{"restarted 20 s after, leading 1 s later", 20 * time.Second, time.Second},
		{"took over 30 s after, leading 10 s later", 30 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 13, 50), func(c *config.Config) { c.Trains["daily"].Grace = 0 })
			h.board("alice", "accounting", "1338")
			for kind, when := range map[string]time.Time{KindDeparture: at(2026, 6, 1, 14, 0), KindReminder: at(2026, 6, 2, 13, 45)} {
				if err := h.store.MarkRun(t.Context(), "daily", kind, when); err != nil {
					t.Fatal(err)
				}
			}
			h.clock.Set(at(2026, 6, 2, 14, 0).Add(tt.restart))
			h.leaderFrom = h.clock.Now().Add(tt.lease)
			h.run(at(2026, 6, 2, 14, 30))
			if got := h.runner.texts(); len(got) != 1 {
				t.Errorf("deploys: got %q, want accounting's; posts: %q", got, h.notes.titles("#deploys"))
			}
			if got := h.notes.find("#deploys", "did not leave"); len(got) != 0 {
				t.Errorf("got %q, want the departure run", render(got[0]))
			}
		})
	}
}

// TestCatchUp starts the bot after it was down over an event: what ran
// before is in LastRun.
func TestCatchUp(t *testing.T) {
	day := func(h, m int) time.Time { return at(2026, 6, 3, h, m) } // a Wednesday
	tests := []struct {
		name string
		last map[string]time.Time // LastRun by kind before the bot starts
		// boarded is when alice's car boarded, start when unset.
		boarded, start time.Time
		// wantReqs are the deploys; wantTitle starts the one announcement
		// expected, "" for none.
		wantReqs  []string
		wantTitle string
		wantLines []string
		wantCars  []string
	}{
		{
			name:      "departure missed within the grace period runs late",
			last:      map[string]time.Time{KindDeparture: day(14, 0).AddDate(0, 0, -1)},
			start:     day(14, 10),
			wantReqs:  []string{"alice@#deploys via train: deploy accounting 1338 to production"},
			wantTitle: "🚂 The 14:00 train to production is leaving with 1 car",
			wantLines: []string{"running the 14:00 departure late (the bot was down)"},
		},
		{
			name:      "departure missed beyond the grace period is announced",
			last:      map[string]time.Time{KindDeparture: day(14, 0).AddDate(0, 0, -1)},
			start:     day(14, 15),
			wantTitle: "The 14:00 train to production did not leave: the bot was down at departure time.",
			wantLines: []string{"accounting 1338 (@alice) stays aboard for the next one, Thu 4 Jun 14:00 CEST."},
			wantCars:  []string{"accounting 1338"},
		},
		{
			name:      "departure missed yesterday names its day",
			last:      map[string]time.Time{KindDeparture: day(14, 0).AddDate(0, 0, -2)},
			start:     day(9, 0),
			wantTitle: "The Tue 14:00 train to production did not leave: the bot was down at departure time.",
			wantLines: []string{"accounting 1338 (@alice) stays aboard for the next one, Wed 3 Jun 14:00 CEST."},
			wantCars:  []string{"accounting 1338"},
		},
		{
			name:     "missed boarding and reminder are skipped",
			last:     map[string]time.Time{KindBoarding: day(10, 0).AddDate(0, 0, -1), KindReminder: day(13, 45).AddDate(0, 0, -1)},
			start:    day(13, 50),
			wantCars: []string{"accounting 1338"},
		},
		{
			name:     "a first start catches up on nothing",
			start:    day(14, 5),
			wantCars: []string{"accounting 1338"},
		},
		{
			// The train never left before: what is missed counts from
			// the first car aboard.
			name:      "first departure missed within the grace period runs late",
			boarded:   day(11, 0),
			start:     day(14, 10),
			wantReqs:  []string{"alice@#deploys via train: deploy accounting 1338 to production"},
			wantTitle: "🚂 The 14:00 train to production is leaving with 1 car",
			wantLines: []string{"running the 14:00 departure late (the bot was down)"},
		},
		{
			name:      "first departure missed beyond the grace period is announced",
			boarded:   day(11, 0),
			start:     day(14, 15),
			wantTitle: "The 14:00 train to production did not leave: the bot was down at departure time.",
			wantLines: []string{"accounting 1338 (@alice) stays aboard for the next one, Thu 4 Jun 14:00 CEST."},
			wantCars:  []string{"accounting 1338"},
		},
		{
			name:     "on time a second after restart",
			last:     map[string]time.Time{KindDeparture: day(14, 0).AddDate(0, 0, -1)},
			start:    day(14, 0).Add(time.Second),
			wantReqs: []string{"alice@#deploys via train: deploy accounting 1338 to production"},
			// No note: it is on time.
			wantTitle: "🚂 The 14:00 train to production is leaving with 1 car",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cmp.Or(tc.boarded, tc.start), nil)
			h.board("alice", "accounting", "1338")
			h.clock.Set(tc.start)
			for kind, when := range tc.last {
				if err := h.store.MarkRun(t.Context(), "daily", kind, when); err != nil {
					t.Fatal(err)
				}
			}
			marks := len(h.store.Marks())
			h.run(tc.start)
			check := func(round string) {
				t.Helper()
				if got := h.runner.texts(); !slices.Equal(got, tc.wantReqs) {
					t.Errorf("%s: deploys: got %q, want %q", round, got, tc.wantReqs)
				}
				var titles []string
				for _, p := range h.notes.posts {
					if !strings.HasPrefix(p.msg.Title, "Deploy") && !strings.HasPrefix(p.msg.Title, "🚂 The 14:00 train to production has left") {
						titles = append(titles, p.msg.Title)
					}
				}
				switch {
				case tc.wantTitle == "" && len(titles) > 0:
					t.Errorf("%s: announcements: got %q, want none", round, titles)
				case tc.wantTitle != "" && (len(titles) != 1 || !strings.HasPrefix(titles[0], tc.wantTitle)):
					t.Errorf("%s: announcements: got %q, want one starting %q", round, titles, tc.wantTitle)
				case tc.wantTitle != "":
					if got := h.notes.find("#deploys", tc.wantTitle)[0].Lines; !slices.Equal(got, tc.wantLines) {
						t.Errorf("%s: lines: got %q, want %q", round, got, tc.wantLines)
					}
				}
				if got := h.aboard("daily"); !slices.Equal(got, tc.wantCars) {
					t.Errorf("%s: aboard: got %q, want %q", round, got, tc.wantCars)
				}
				// A missed departure is in the audit log, once.
				missed, want := 0, 0
				for _, e := range h.store.audited() {
					if strings.HasPrefix(e, "switchman event: train daily departure ") && strings.HasSuffix(e, ": did not leave: the bot was down at departure time") {
						missed++
					}
				}
				if strings.Contains(tc.wantTitle, "the bot was down at departure time") {
					want = 1
				}
				if missed != want {
					t.Errorf("%s: audit entries of a missed departure: got %d, want %d: %q", round, missed, want, h.store.audited())
				}
			}
			check("first start")
			// A second restart at the same instant does nothing more.
			marked := len(h.store.Marks())
			h.run(tc.start)
			check("second start")
			if got := len(h.store.Marks()); got != marked {
				t.Errorf("second start: got %d more events, want none: %q", got-marked, h.store.Marks()[marks:])
			}
		})
	}
}

// TestCatchUpAuditsEveryMissedDeparture: a bot down over several
// departures runs or announces the latest, and the audit log and the
// channel say what became of the earlier ones too.
func TestCatchUpAuditsEveryMissedDeparture(t *testing.T) {
	day := func(d, h, m int) time.Time { return at(2026, 6, d, h, m) } // 1 June is a Monday
	const down = "did not leave: the bot was down at departure time"
	tests := []struct {
		name string
		// last is the departure last run; zero: the train never left,
		// and alice boarded at boarded.
		last, boarded time.Time
		cancel        time.Time // a departure cancelled before the bot went down
		start         time.Time
		wantAudit     []string // the departures' entries, "STAMP: REASON"
		wantLine      string   // in the departure's announcement
	}{
		{
			name: "missed, after two missed", last: day(1, 14, 0), start: day(4, 14, 20),
			wantAudit: []string{"Tue 2 Jun 14:00 CEST: " + down, "Wed 3 Jun 14:00 CEST: " + down, "Thu 4 Jun 14:00 CEST: " + down},
			wantLine:  "The bot was down at the 2 departures before it too, which did not leave: Tue 2 Jun 14:00 CEST, Wed 3 Jun 14:00 CEST.",
		},
		{
			name: "run late, after one missed", last: day(2, 14, 0), start: day(4, 14, 5),
			wantAudit: []string{"Wed 3 Jun 14:00 CEST: " + down, "Thu 4 Jun 14:00 CEST: 🚂 The 14:00 train to production has left: 1 shipped"},
			wantLine:  "running the 14:00 departure late (the bot was down); the bot was down at the departure before it too, Wed 3 Jun 14:00 CEST, which did not leave",
		},
		{
			name: "one cancelled among them", last: day(1, 14, 0), cancel: day(3, 14, 0), start: day(4, 14, 20),
			wantAudit: []string{"Tue 2 Jun 14:00 CEST: " + down, "Wed 3 Jun 14:00 CEST: did not leave: it was cancelled", "Thu 4 Jun 14:00 CEST: " + down},
			wantLine:  "The bot was down at the departure before it too, Tue 2 Jun 14:00 CEST, which did not leave.",
		},
		{
			name: "a train that never left", boarded: day(2, 11, 0), start: day(4, 14, 20),
			wantAudit: []string{"Tue 2 Jun 14:00 CEST: " + down, "Wed 3 Jun 14:00 CEST: " + down, "Thu 4 Jun 14:00 CEST: " + down},
			wantLine:  "The bot was down at the 2 departures before it too, which did not leave: Tue 2 Jun 14:00 CEST, Wed 3 Jun 14:00 CEST.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cmp.Or(tc.boarded, day(1, 15, 0)), nil)
			h.board("alice", "accounting", "1338")
			if !tc.last.IsZero() {
				if err := h.store.MarkRun(t.Context(), "daily", KindDeparture, tc.last); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.cancel.IsZero() {
				if err := h.store.MarkCancel(t.Context(), "daily", Cancellation{At: tc.cancel, User: "ana", Reason: "freeze"}); err != nil {
					t.Fatal(err)
				}
			}
			h.clock.Set(tc.start)
			h.run(tc.start)
			var got []string
			for _, e := range h.store.audited() {
				if rest, ok := strings.CutPrefix(e, "switchman event: train daily departure "); ok {
					got = append(got, strings.SplitN(rest, "; ", 2)[0])
				}
			}
			if !slices.Equal(got, tc.wantAudit) {
				t.Errorf("departures audited:\ngot  %q\nwant %q", got, tc.wantAudit)
			}
			var lines []string
			for _, p := range h.notes.posts {
				lines = append(lines, p.msg.Lines...)
			}
			if !slices.Contains(lines, tc.wantLine) {
				t.Errorf("lines posted: got %q, want one %q", lines, tc.wantLine)
			}
		})
	}
}

// TestDepartureCutShortByACrash: a bot that died after it recorded a
// departure as run, before that departure said what became of its cars,
// says so at its next start, once: the departure is never run again, and
// it is not left unsaid.
func TestDepartureCutShortByACrash(t *testing.T) {
	const cutShort = "The 14:00 train to production was cut short: the bot stopped after it fell due, before it said what became of its cars."
	tests := []struct {
		name  string
		ended bool // the departure before it ended as this version records it
		// crash ends the departure at 14:00 after its record, at start
		// (no car taken) or once accounting was taken off to ship.
		crash string
		// leases stands for the store's leases at the restarts.
		leases    *expiringLeases
		wantTitle string
		wantLines []string
		wantAudit int
	}{
		{
			name: "crash before any car", ended: true, crash: "start", wantTitle: cutShort, wantAudit: 1,
			wantLines: []string{
				"accounting 1338 (@alice), billing 77 (@bob) stay aboard for the next one, Thu 4 Jun 14:00 CEST.",
				"A car whose deploy was under way when the bot stopped is reported by deploy recovery (" + suggest.Command("status") + " shows it).",
			},
		},
		{
			name: "crash as the first car ships", ended: true, crash: "shipping", wantTitle: cutShort, wantAudit: 1,
			wantLines: []string{
				"billing 77 (@bob) stays aboard for the next one, Thu 4 Jun 14:00 CEST.",
				"A car whose deploy was under way when the bot stopped is reported by deploy recovery (" + suggest.Command("status") + " shows it).",
			},
		},
		{
			// The dead bot's departure lease lives on unrenewed a while.
			name: "crash before any car, its lease still held", ended: true, crash: "start", leases: &expiringLeases{held: 1},
			wantTitle: cutShort, wantAudit: 1,
			wantLines: []string{
				"accounting 1338 (@alice), billing 77 (@bob) stay aboard for the next one, Thu 4 Jun 14:00 CEST.",
				"A car whose deploy was under way when the bot stopped is reported by deploy recovery (" + suggest.Command("status") + " shows it).",
			},
		},
		{
			// Another replica holds the lease renewed: it is departing
			// the train, and says how that ends.
			name: "departing on another replica", ended: true, crash: "start", leases: &expiringLeases{held: 1 << 30},
		},
		{
			// Recorded by a version that did not record its end: not
			// known to be cut short.
			name: "no end recorded before", crash: "start",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
			if tc.ended {
				// Tuesday's departure ran to its end.
				h.run(at(2026, 6, 2, 14, 30))
			}
			h.clock.Set(at(2026, 6, 3, 11, 0))
			h.board("alice", "accounting", "1338")
			h.board("bob", "billing", "77")
			// Wednesday's departure is recorded, then the bot dies.
			h.clock.Set(at(2026, 6, 3, 14, 0))
			if err := h.store.MarkRun(t.Context(), "daily", KindDeparture, at(2026, 6, 3, 14, 0)); err != nil {
				t.Fatal(err)
			}
			if tc.crash == "shipping" {
				if _, err := h.store.Leave(t.Context(), "daily", "accounting", "", time.Time{}); err != nil {
					t.Fatal(err)
				}
			}
			posts, audits := h.notes.count(), len(h.store.audited())
			if tc.leases != nil {
				h.leases, h.leaseTTL = tc.leases, 30*time.Millisecond
			}
			for _, start := range []time.Time{at(2026, 6, 3, 14, 3), at(2026, 6, 3, 14, 4)} {
				h.clock.Set(start)
				h.run(start)
			}
			var titles []string
			var lines []string
			for _, p := range h.notes.posts[posts:] {
				titles = append(titles, p.msg.Title)
				lines = append(lines, p.msg.Lines...)
			}
			var want []string
			if tc.wantTitle != "" {
				want = []string{tc.wantTitle}
			}
			if !slices.Equal(titles, want) {
				t.Errorf("posts after the restarts: got %q, want %q", titles, want)
			}
			if tc.wantTitle != "" && !slices.Equal(lines, tc.wantLines) {
				t.Errorf("lines: got %q, want %q", lines, tc.wantLines)
			}
			var got int
			for _, e := range h.store.audited()[audits:] {
				if e == "switchman event: train daily departure Wed 3 Jun 14:00 CEST: did not end: the bot stopped after it fell due, before it said what became of its cars" {
					got++
				}
			}
			if got != tc.wantAudit {
				t.Errorf("audit entries of the departure cut short: got %d, want %d: %q", got, tc.wantAudit, h.store.audited()[audits:])
			}
			if reqs := h.runner.texts(); len(reqs) != 0 {
				t.Errorf("deploys: got %q, want none", reqs)
			}
		})
	}
}

// expiringLeases is a Leaser whose leases another holder has for the
// first held acquisitions, then free.
type expiringLeases struct {
	mu   sync.Mutex
	held int
}

func (l *expiringLeases) Acquire(_ context.Context, key, _ string, _ time.Duration) (deploy.Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held > 0 {
		l.held--
		return nil, &deploy.LeaseHeldError{Key: key, Holder: "departure of daily 0a1b2c3d4e5f"}
	}
	return freeLease{}, nil
}

func (l *expiringLeases) Holder(context.Context, string) (string, error) { return "", nil }

type freeLease struct{}

func (freeLease) Token() int64                  { return 1 }
func (freeLease) Check(context.Context) error   { return nil }
func (freeLease) Renew(context.Context) error   { return nil }
func (freeLease) Release(context.Context) error { return nil }

// TestNotLeavingSaidWhenTheCarsCannotBeRead: a departure missed or
// cancelled whose cars cannot be read is still said not to leave, with
// the cars aboard, whoever they are, staying: an empty: silent train is
// silent only when nobody is known to be aboard.
func TestNotLeavingSaidWhenTheCarsCannotBeRead(t *testing.T) {
	const stay = "The cars aboard stay for the next one, Wed 3 Jun 14:00 CEST."
	tests := []struct {
		name      string
		empty     string
		cancelled bool
		start     time.Time
		want      string
	}{
		{name: "missed", empty: "note", start: at(2026, 6, 2, 14, 20), want: "The 14:00 train to production did not leave: the bot was down at departure time."},
		{name: "missed, silent", empty: "silent", start: at(2026, 6, 2, 14, 20), want: "The 14:00 train to production did not leave: the bot was down at departure time."},
		{name: "cancelled", empty: "note", cancelled: true, start: at(2026, 6, 2, 14, 5), want: "🚫 The 14:00 train to production does not leave: it was cancelled."},
		{name: "cancelled, silent", empty: "silent", cancelled: true, start: at(2026, 6, 2, 14, 5), want: "🚫 The 14:00 train to production does not leave: it was cancelled."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 11, 0), func(c *config.Config) { c.Trains["daily"].Empty = tc.empty })
			h.board("alice", "accounting", "1338")
			if err := h.store.MarkRun(t.Context(), "daily", KindDeparture, at(2026, 6, 1, 14, 0)); err != nil {
				t.Fatal(err)
			}
			if tc.cancelled {
				if err := h.store.MarkCancel(t.Context(), "daily", Cancellation{At: at(2026, 6, 2, 14, 0), User: "ana", Reason: "freeze"}); err != nil {
					t.Fatal(err)
				}
			}
			h.store.mu.Lock()
			h.store.failCars = errors.New("connection refused")
			h.store.mu.Unlock()
			h.clock.Set(tc.start)
			h.run(tc.start)
			got := h.notes.find("#deploys", tc.want)
			if len(got) != 1 {
				t.Fatalf("posts: got %q, want one %q", h.notes.titles("#deploys"), tc.want)
			}
			if !slices.Equal(got[0].Lines, []string{stay}) {
				t.Errorf("lines: got %q, want %q", got[0].Lines, []string{stay})
			}
		})
	}
}

// TestAnnouncementsWhenTheCarsCannotBeRead: the boarding and the
// reminder are announced when the cars cannot be read, saying so, even
// on an empty: silent train, which people may be aboard.
func TestAnnouncementsWhenTheCarsCannotBeRead(t *testing.T) {
	unread := "Who is aboard could not be read (state store unreachable): " + suggest.Command("train") + " lists the cars."
	for _, empty := range []string{"note", "silent"} {
		t.Run(empty, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 9, 0), func(c *config.Config) { c.Trains["daily"].Empty = empty })
			h.store.mu.Lock()
			h.store.failCars = errors.New("connection refused")
			h.store.mu.Unlock()
			h.run(at(2026, 6, 2, 13, 50))
			want := []string{
				"🚂 The 14:00 train to production is boarding. Board with train board APP BUILD.\n  " + unread,
				"⏰ The 14:00 train to production leaves in 15 minutes.\n  " + unread,
			}
			var got []string
			for _, p := range h.notes.posts {
				got = append(got, render(p.msg))
			}
			if !slices.Equal(got, want) {
				t.Errorf("posts:\ngot  %q\nwant %q", got, want)
			}
		})
	}
}

// TestCatchUpBeforeCrash: the departure was recorded, then the bot died
// in the middle of it; it never runs again.
func TestCatchUpBeforeCrash(t *testing.T) {
	h := newHarness(t, at(2026, 6, 3, 14, 5), nil)
	h.board("alice", "accounting", "1338")
	if err := h.store.MarkRun(t.Context(), "daily", KindDeparture, at(2026, 6, 3, 14, 0)); err != nil {
		t.Fatal(err)
	}
	h.run(at(2026, 6, 3, 14, 5))
	if got := h.runner.texts(); len(got) != 0 {
		t.Errorf("deploys: got %q, want none: the departure ran before the crash", got)
	}
}

// TestCancelDuringTakeover: a cancel while today's departure is due but
// has not run (the leader died before it; a new one takes over within
// grace, or within the minute that counts as on time whatever the grace)
// calls off today's departure, not tomorrow's.
func TestCancelDuringTakeover(t *testing.T) {
	for _, grace := range []time.Duration{15 * time.Minute, 30 * time.Second, 0} {
		t.Run("grace "+grace.String(), func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 13, 50), func(c *config.Config) {
				c.Trains["daily"].Grace = config.Duration(grace)
			})
			h.board("alice", "accounting", "1338")
			h.leaderFrom = at(2026, 6, 2, 14, 1)
			h.run(at(2026, 6, 2, 13, 59))
			h.clock.Set(at(2026, 6, 2, 14, 0).Add(45 * time.Second))
			reply, err := h.s.Cancel(t.Context(), "ana", "daily", "incident")
			if err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			if !strings.Contains(reply.Title, "Tue 2 Jun 14:00") {
				t.Errorf("Cancel reply: got %q, want today's 14:00 cancelled", reply.Title)
			}
			h.run(at(2026, 6, 2, 14, 30))
			if got := h.runner.texts(); len(got) != 0 {
				t.Errorf("deploys: got %q, want none: today's departure was cancelled", got)
			}
			if got := h.aboard("daily"); !slices.Equal(got, []string{"accounting 1338"}) {
				t.Errorf("aboard: got %q", got)
			}
		})
	}
}

// TestCancelWaitingDeparture: a cancel while today's departure is due and
// waits for another departure of the train calls off today's; one that
// stopped waiting as it was cancelled may have left, and the reply and
// the announcement say so.
func TestCancelWaitingDeparture(t *testing.T) {
	tests := []struct {
		name      string
		leaves    bool // the departure stops waiting as the cancel is recorded
		wantReply string
		wantLines []string
	}{
		{
			name:      "still waiting",
			wantReply: "Cancelled the 14:00 train to production (Tue 2 Jun 14:00 CEST); announced in the train's channels",
			wantLines: []string{"accounting 1338 (@alice) stays aboard for the next one, Wed 3 Jun 14:00 CEST."},
		},
		{
			name:      "leaving as it is cancelled",
			leaves:    true,
			wantReply: "Cancelled the 14:00 train to production (Tue 2 Jun 14:00 CEST), which was about to leave: if it had left already, its cars ship; announced in the train's channels",
			wantLines: []string{"It was about to leave as it was cancelled: if it had left, its cars ship; this channel says which."},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 14, 3), nil)
			h.board("alice", "accounting", "1338")
			for _, kind := range []string{KindDeparture, KindWaiting} {
				if err := h.store.MarkRun(t.Context(), "daily", kind, at(2026, 6, 2, 14, 0)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.leaves {
				h.store.afterMark = func(kind string) {
					if kind == KindCancel {
						h.store.runs["daily\x00"+KindWaiting] = time.Time{}
					}
				}
			}
			cancelForIncident(t, h, tc.wantReply, tc.wantLines)
		})
	}
}

func TestRunCancel(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	reply, err := h.s.Cancel(t.Context(), "ana", "daily", "db migration running")
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if want := "Cancelled the 14:00 train to production (Tue 2 Jun 14:00 CEST); announced in the train's channels"; reply.Title != want {
		t.Errorf("Cancel reply: got %q, want %q", reply.Title, want)
	}
	wantAnn := "🚫 The 14:00 train to production is cancelled by @ana: db migration running\n" +
		"  accounting 1338 (@alice) stays aboard for the next one, Wed 3 Jun 14:00 CEST."
	if got := h.notes.find("#deploys", "🚫"); len(got) != 1 || render(got[0]) != wantAnn {
		t.Errorf("Cancel announcement: got %v, want %q", got, wantAnn)
	}
	if _, err := h.s.Cancel(t.Context(), "ana", "daily", "again"); errText(err) != "no_change: the 14:00 train to production is already cancelled" {
		t.Errorf("Cancel again: got %s", errText(err))
	}
	if _, err := h.s.Cancel(t.Context(), "ana", "daily", " "); errText(err) != "invalid: say why the daily train is cancelled" {
		t.Errorf("Cancel without a reason: got %s", errText(err))
	}

	h.run(at(2026, 6, 2, 15, 0))
	if got := h.runner.texts(); len(got) != 0 {
		t.Errorf("deploys of a cancelled departure: got %q, want none", got)
	}
	if got := h.notes.find("#deploys", "⏰"); len(got) != 0 {
		t.Errorf("reminder of a cancelled departure: got %q, want none", got[0].Title)
	}
	want := "🚫 The 14:00 train to production does not leave: it was cancelled.\n" +
		"  accounting 1338 (@alice) stays aboard for the next one, Wed 3 Jun 14:00 CEST."
	if got := h.notes.find("#deploys", "🚫 The 14:00 train to production does not leave"); len(got) != 1 || render(got[0]) != want {
		t.Errorf("at departure time: got %v, want %q", got, want)
	}
	if got := h.aboard("daily"); !slices.Equal(got, []string{"accounting 1338"}) {
		t.Errorf("aboard after the cancelled departure: got %q", got)
	}
	// The next one leaves.
	h.run(at(2026, 6, 3, 15, 0))
	if got := h.runner.texts(); len(got) != 1 {
		t.Errorf("deploys the day after: got %q, want accounting's", got)
	}
}

// TestCancelCarsStayAboard checks the grammar of what a cancel and the
// departure it calls off announce, with one car aboard and with several.
func TestCancelCarsStayAboard(t *testing.T) {
	tests := []struct {
		name  string
		board [][2]string // app, build
		cars  string
	}{
		{"one car", [][2]string{{"accounting", "1338"}}, "accounting 1338 (@alice) stays aboard"},
		{"two cars", [][2]string{{"accounting", "1338"}, {"billing", "77"}}, "accounting 1338 (@alice), billing 77 (@alice) stay aboard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
			for _, c := range tt.board {
				h.board("alice", c[0], c[1])
			}
			if _, err := h.s.Cancel(t.Context(), "ana", "daily", "db migration running"); err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			want := "🚫 The 14:00 train to production is cancelled by @ana: db migration running\n" +
				"  " + tt.cars + " for the next one, Wed 3 Jun 14:00 CEST."
			if got := h.notes.find("#deploys", "🚫"); len(got) != 1 || render(got[0]) != want {
				t.Errorf("Cancel announcement: got %v, want %q", got, want)
			}
			h.run(at(2026, 6, 2, 15, 0))
			want = "🚫 The 14:00 train to production does not leave: it was cancelled.\n" +
				"  " + tt.cars + " for the next one, Wed 3 Jun 14:00 CEST."
			if got := h.notes.find("#deploys", "🚫 The 14:00 train to production does not leave"); len(got) != 1 || render(got[0]) != want {
				t.Errorf("at departure time: got %v, want %q", got, want)
			}
		})
	}
}

// TestCancelAsDepartureFallsDue: a cancel of a departure due now that the
// leader records as run while the cancel is made may come too late for
// it; the reply and the channel say so, rather than that the cars stay.
func TestCancelAsDepartureFallsDue(t *testing.T) {
	tests := []struct {
		name      string
		recorded  bool // the departure is recorded as run as the cancel is
		wantReply string
		wantLines []string
	}{
		{
			name:      "not recorded yet",
			wantReply: "Cancelled the 14:00 train to production (Tue 2 Jun 14:00 CEST); announced in the train's channels",
			wantLines: []string{"accounting 1338 (@alice) stays aboard for the next one, Wed 3 Jun 14:00 CEST."},
		},
		{
			name:      "recorded as it is cancelled",
			recorded:  true,
			wantReply: "Cancelled the 14:00 train to production (Tue 2 Jun 14:00 CEST), which was about to leave: if it had left already, its cars ship; announced in the train's channels",
			wantLines: []string{"It was about to leave as it was cancelled: if it had left, its cars ship; this channel says which."},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 14, 0), nil)
			h.board("alice", "accounting", "1338")
			if tc.recorded {
				h.store.afterMark = func(kind string) {
					if kind == KindCancel {
						h.store.runs["daily\x00"+KindDeparture] = at(2026, 6, 2, 14, 0)
					}
				}
			}
			cancelForIncident(t, h, tc.wantReply, tc.wantLines)
		})
	}
}

// TestCatchUpLongGrace: a yearly train's departure missed by more than
// the 32 days a catch-up always looks back still runs late within a
// longer grace, or is announced as missed once beyond it.
func TestCatchUpLongGrace(t *testing.T) {
	missed := at(2026, 6, 1, 14, 0) // a Monday
	tests := []struct {
		name  string
		start time.Time
		// wantReqs are the deploys; wantTitle starts the one announcement
		// expected besides the departure's summary.
		wantReqs  []string
		wantTitle string
		wantCars  []string
	}{
		{
			name: "30 days late runs late", start: missed.AddDate(0, 0, 30),
			wantReqs:  []string{"alice@#deploys via train: deploy accounting 1338 to production"},
			wantTitle: "🚂 The 14:00 train to production is leaving with 1 car",
		},
		{
			name: "39 days late, within grace, runs late", start: missed.AddDate(0, 0, 39),
			wantReqs:  []string{"alice@#deploys via train: deploy accounting 1338 to production"},
			wantTitle: "🚂 The 14:00 train to production is leaving with 1 car",
		},
		{
			name: "75 days late, beyond grace, is announced", start: missed.AddDate(0, 0, 75),
			wantTitle: "The Mon 1 Jun 14:00 train to production did not leave: the bot was down at departure time.",
			wantCars:  []string{"accounting 1338"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.start, func(c *config.Config) {
				tr := c.Trains["daily"]
				tr.Boarding, tr.Reminder, tr.Departure = "0 10 1 6 *", "", "0 14 1 6 *"
				tr.Grace = config.Duration(60 * 24 * time.Hour)
			})
			h.board("alice", "accounting", "1338")
			if err := h.store.MarkRun(t.Context(), "daily", KindDeparture, missed.AddDate(-1, 0, 0)); err != nil {
				t.Fatal(err)
			}
			h.run(tc.start)
			if got := h.runner.texts(); !slices.Equal(got, tc.wantReqs) {
				t.Errorf("deploys: got %q, want %q", got, tc.wantReqs)
			}
			var titles []string
			for _, p := range h.notes.posts {
				if !strings.HasPrefix(p.msg.Title, "Deploy") && !strings.Contains(p.msg.Title, "has left") {
					titles = append(titles, p.msg.Title)
				}
			}
			if len(titles) != 1 || !strings.HasPrefix(titles[0], tc.wantTitle) {
				t.Errorf("announcements: got %q, want one starting %q", titles, tc.wantTitle)
			}
			if got := h.aboard("daily"); !slices.Equal(got, tc.wantCars) {
				t.Errorf("aboard: got %q, want %q", got, tc.wantCars)
			}
		})
	}
}

// TestCancelWithinLongGrace: train cancel calls off a departure due more
// than 32 days ago that has not run yet, within a longer grace, rather
// than next year's.
func TestCancelWithinLongGrace(t *testing.T) {
	h := newHarness(t, at(2026, 7, 10, 9, 0), func(c *config.Config) {
		tr := c.Trains["daily"]
		tr.Boarding, tr.Reminder, tr.Departure = "0 10 1 6 *", "", "0 14 1 6 *"
		tr.Grace = config.Duration(60 * 24 * time.Hour)
	})
	if err := h.store.MarkRun(t.Context(), "daily", KindDeparture, at(2025, 6, 1, 14, 0)); err != nil {
		t.Fatal(err)
	}
	reply, err := h.s.Cancel(t.Context(), "ana", "daily", "incident")
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if want := "(Mon 1 Jun 14:00 CEST)"; !strings.Contains(reply.Title, want) {
		t.Errorf("Cancel reply: got %q, want the due departure %s cancelled", reply.Title, want)
	}
}

// cancelForIncident has ana cancel the daily train for "incident" and
// checks the reply's title and the one announcement's lines.
func cancelForIncident(t *testing.T, h *harness, wantReply string, wantLines []string) {
	t.Helper()
	reply, err := h.s.Cancel(t.Context(), "ana", "daily", "incident")
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if reply.Title != wantReply {
		t.Errorf("reply: got %q, want %q", reply.Title, wantReply)
	}
	posted := h.notes.find("#deploys", "🚫 The 14:00 train to production is cancelled by @ana: incident")
	if len(posted) != 1 || !slices.Equal(posted[0].Lines, wantLines) {
		t.Errorf("announcements: got %+v, want one with lines %q", posted, wantLines)
	}
}

// TestDepartNowCutShortByACrash: a bot that died during a train depart
// now, after the train was announced as leaving and before its summary,
// says so at its next start, once, as for a scheduled departure; one
// that ended is not said again.
func TestDepartNowCutShortByACrash(t *testing.T) {
	const cutShort = "The 12:00 train to production was cut short: the bot stopped after it was sent off, before it said what became of its cars."
	for _, crash := range []bool{true, false} {
		t.Run(fmt.Sprintf("crash %v", crash), func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
			h.run(at(2026, 6, 2, 14, 30)) // Tuesday's departure ran to its end
			h.clock.Set(at(2026, 6, 3, 11, 0))
			h.board("alice", "accounting", "1338")
			h.board("bob", "billing", "77")
			started := make(chan struct{})
			if crash {
				h.runner.outcome["accounting"] = "later"
				h.runner.finishLater = make(chan struct{})
				var once sync.Once
				h.runner.onDeploy = func(string) { once.Do(func() { close(started) }) }
			} else {
				close(started)
			}
			h.clock.Set(at(2026, 6, 3, 12, 0))
			h.restart()
			dead := h.s
			if _, err := dead.DepartNow(t.Context(), "ana", "daily"); err != nil {
				t.Fatal(err)
			}
			<-started
			if !crash {
				dead.wg.Wait()
			}
			// The bot dies with accounting shipping, and starts again.
			posts, audits := h.notes.count(), len(h.store.audited())
			for _, start := range []time.Time{at(2026, 6, 3, 12, 5), at(2026, 6, 3, 12, 6)} {
				h.clock.Set(start)
				h.run(start)
			}
			var titles, lines []string
			h.notes.mu.Lock()
			for _, p := range h.notes.posts[posts:] {
				// The dead bot's reply to the deploy it started is no
				// word of the restarted one.
				if !strings.HasPrefix(p.msg.Title, "Deploying ") {
					titles = append(titles, p.msg.Title)
					lines = append(lines, p.msg.Lines...)
				}
			}
			h.notes.mu.Unlock()
			if crash {
				h.runner.mu.Lock()
				close(h.runner.finishLater)
				h.runner.mu.Unlock()
				dead.wg.Wait()
			}
			var want []string
			wantAudit := 0
			if crash {
				want, wantAudit = []string{cutShort}, 1
				wantLines := []string{
					"billing 77 (@bob) stays aboard for the next one, Wed 3 Jun 14:00 CEST.",
					"A car whose deploy was under way when the bot stopped is reported by deploy recovery (" + suggest.Command("status") + " shows it).",
				}
				if !slices.Equal(lines, wantLines) {
					t.Errorf("lines: got %q, want %q", lines, wantLines)
				}
			}
			if !slices.Equal(titles, want) {
				t.Errorf("posts after the restarts: got %q, want %q", titles, want)
			}
			var got int
			for _, e := range h.store.audited()[audits:] {
				if e == "switchman event: train daily departure Wed 3 Jun 12:00 CEST: did not end: the bot stopped after it was sent off, before it said what became of its cars" {
					got++
				}
			}
			if got != wantAudit {
				t.Errorf("audit entries of the departure cut short: got %d, want %d: %q", got, wantAudit, h.store.audited()[audits:])
			}
		})
	}
}

// TestBoardingAtTheDepartureInstant: a boarding announcement of the next
// departure that falls at the instant of one (boarding and departure at
// the same time of day, or a spring-forward change moving both to the
// same instant) is posted after that departure's summary, not before the
// train it follows is said to leave, with the cars of that departure as
// aboard the next.
func TestBoardingAtTheDepartureInstant(t *testing.T) {
	tests := []struct {
		name                    string
		tz, boarding, departure string
		start, end              time.Time
		want                    []string
	}{
		{
			name: "same time of day", tz: "Europe/Warsaw", boarding: "0 14 * * 1-5", departure: "0 14 * * 1-5",
			start: at(2026, 6, 2, 13, 0), end: at(2026, 6, 2, 14, 30),
			want: []string{
				"🚂 The 14:00 train to production is leaving with 1 car: accounting 1338 (@alice).",
				"🚂 The 14:00 train to production has left: 1 shipped",
				"🚂 The Wed 14:00 train to production is boarding. Nobody is aboard yet: train board APP BUILD.",
			},
		},
		{
			name: "spring-forward", tz: "Europe/Warsaw", boarding: "45 2 * * *", departure: "15 2 * * *",
			start: at(2026, 3, 28, 23, 0), end: at(2026, 3, 29, 4, 0),
			want: []string{
				"🚂 The 03:00 train to production is leaving with 1 car: accounting 1338 (@alice).",
				"🚂 The 03:00 train to production has left: 1 shipped",
				"🚂 The Mon 02:15 train to production is boarding. Nobody is aboard yet: train board APP BUILD.",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.start, func(c *config.Config) {
				tr := c.Trains["daily"]
				tr.Timezone, tr.Boarding, tr.Reminder, tr.Departure = tc.tz, tc.boarding, "", tc.departure
			})
			h.board("alice", "accounting", "1338")
			h.run(tc.end)
			var got []string
			for _, title := range h.notes.titles("#deploys") {
				if strings.HasPrefix(title, "🚂") { // not the deploys' own
					got = append(got, title)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("announcements:\ngot  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestCutShortSaidOnTakingOverAgain: a replica that led at its start,
// lost the lead, and took it over again from a leader that died during a
// departure says that departure was cut short, as one that never led
// does; it looks once per taking over, not at every tick. It looked only
// at its first tick as leader, so the departure went unsaid.
func TestCutShortSaidOnTakingOverAgain(t *testing.T) {
	tests := []struct {
		name string
		kind string // the dead leader's record of the departure
		// died is when the other leader recorded the departure and died;
		// takeOver when this replica leads again; end when the run ends,
		// after a tick as leader since.
		died, takeOver, end time.Time
		want                string
		// wantReads is how often the unended departures are read: at
		// the start, at the taking over, by cutShort, and as a departure
		// falls due.
		wantReads int
	}{
		{
			name: "scheduled", kind: KindDeparture,
			died: at(2026, 6, 3, 14, 0), takeOver: at(2026, 6, 3, 14, 2), end: at(2026, 6, 4, 10, 5),
			want:      "The 14:00 train to production was cut short: the bot stopped after it fell due, before it said what became of its cars.",
			wantReads: 3,
		},
		{
			name: "sent off early", kind: KindEarly,
			died: at(2026, 6, 3, 13, 50), takeOver: at(2026, 6, 3, 13, 52), end: at(2026, 6, 3, 14, 5),
			want:      "The 13:50 train to production was cut short: the bot stopped after it was sent off, before it said what became of its cars.",
			wantReads: 4,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
			h.run(at(2026, 6, 2, 14, 30)) // Tuesday's departure ran to its end
			h.clock.Set(at(2026, 6, 3, 11, 0))
			h.board("alice", "accounting", "1338")
			died := false
			h.onSleep = func() {
				now := h.clock.Now()
				if now.Before(tc.takeOver) {
					// Another replica leads from this replica's first sleep.
					h.leader = false
				} else {
					h.leader = true
				}
				if !died && !now.Before(tc.died) {
					died = true
					if err := h.store.MarkRun(t.Context(), "daily", tc.kind, tc.died); err != nil {
						t.Error(err)
					}
				}
			}
			reads := h.store.readsOf("daily", readUnended)
			h.run(tc.end)
			if !died {
				t.Fatalf("the other leader never took the departure of %s", tc.died)
			}
			var got []string
			for _, title := range h.notes.titles("#deploys") {
				if strings.Contains(title, "cut short") {
					got = append(got, title)
				}
			}
			if !slices.Equal(got, []string{tc.want}) {
				t.Errorf("posts of a departure cut short: got %q, want %q", got, []string{tc.want})
			}
			if n := h.store.readsOf("daily", readUnended) - reads; n != tc.wantReads {
				t.Errorf("reads of the unended departures: got %d, want %d (a look at each tick?)", n, tc.wantReads)
			}
		})
	}
}
