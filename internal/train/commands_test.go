package train

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

func TestBoard(t *testing.T) {
	type boarding struct{ user, app, build string }
	tests := []struct {
		name   string
		edit   func(*config.Config)
		setup  func(h *harness)
		now    time.Time // default Tue 2 Jun 11:00
		before []boarding
		// the boarding under test
		user, train, app, build, env string
		want                         string // rendered reply, or the error as "code: message"
		wantLevel                    chat.Level
		wantAboard                   []string
	}{
		{
			name: "boards", user: "alice", app: "accounting", build: "1338",
			want: "🎫 accounting 1338 boarded the 14:00 train to production (car 1 of 1)", wantLevel: chat.Success,
			wantAboard: []string{"accounting 1338"},
		},
		{
			name: "names the env it goes to", user: "alice", app: "accounting", build: "1338", env: "production",
			want: "🎫 accounting 1338 boarded the 14:00 train to production (car 1 of 1)", wantLevel: chat.Success,
			wantAboard: []string{"accounting 1338"},
		},
		{
			name:   "boarding again replaces your car, which moves to the end",
			before: []boarding{{"alice", "accounting", "1337"}, {"bob", "billing", "77"}},
			user:   "alice", app: "accounting", build: "1338",
			want: "🎫 accounting 1338 boarded the 14:00 train to production (car 2 of 2)\n" +
				"  It replaces your accounting 1337 and takes the last place.",
			wantLevel: chat.Success, wantAboard: []string{"billing 77", "accounting 1338"},
		},
		{
			name:   "replaces someone else's car",
			before: []boarding{{"bob", "accounting", "1337"}},
			user:   "alice", app: "accounting", build: "1338",
			want: "🎫 accounting 1338 boarded the 14:00 train to production (car 1 of 1)\n" +
				"  It replaces accounting 1337 (@bob) and takes the last place.",
			wantLevel: chat.Success, wantAboard: []string{"accounting 1338"},
		},
		{
			name:   "full train",
			edit:   func(c *config.Config) { c.Trains["daily"].MaxCars = 2 },
			before: []boarding{{"alice", "accounting", "1338"}, {"bob", "billing", "77"}},
			user:   "carl", app: "search", build: "5",
			want:       "conflict: the daily train is full (2 cars)",
			wantAboard: []string{"accounting 1338", "billing 77"},
		},
		{
			name: "unknown app", user: "alice", app: "payroll", build: "1",
			want: `invalid: there is no app "payroll"`,
		},
		{
			name: "another env than the train's", user: "alice", app: "accounting", build: "1338", env: "staging",
			want: "invalid: the daily train goes to production, not staging",
		},
		{
			name: "an app without the train's env", user: "alice", app: "mail", build: "1",
			want: "invalid: mail has no environment production, where the daily train goes",
		},
		{
			name: "missing build", user: "alice", app: "accounting", build: "9999",
			want: "not_found: build 9999 of accounting was not found",
		},
		{
			name: "unknown train", user: "alice", train: "nightly", app: "accounting", build: "1338",
			want: `not_found: there is no train "nightly"; trains: daily`,
		},
		{
			name: "a locked app boards with a warning",
			setup: func(h *harness) {
				h.gate.lock("accounting", "locked by @ana since 10:02: db maintenance")
			},
			user: "alice", app: "accounting", build: "1338",
			want: "🎫 accounting 1338 boarded the 14:00 train to production (car 1 of 1)\n" +
				"  ⚠ accounting/production is locked now: locked by @ana since 10:02: db maintenance; unless lifted by departure, the car moves to the next train.",
			wantLevel: chat.Warning, wantAboard: []string{"accounting 1338"},
		},
		{
			name: "after the departure, for the next day's train", now: at(2026, 6, 2, 15, 0),
			user: "alice", app: "accounting", build: "1338",
			want:      "🎫 accounting 1338 boarded the Wed 14:00 train to production (car 1 of 1)",
			wantLevel: chat.Success, wantAboard: []string{"accounting 1338"},
		},
		{
			// Sent off early at 13:58, the train held the 14:00
			// departure, which leaves once that one is done, with the
			// cars boarded since: this one. It used to be told the
			// next day's train.
			name: "a departure waiting for an early one takes the car", now: at(2026, 6, 2, 14, 3),
			setup: func(h *harness) {
				h.store.MarkRun(h.t.Context(), "daily", KindDeparture, at(2026, 6, 2, 14, 0))
				h.store.MarkRun(h.t.Context(), "daily", KindWaiting, at(2026, 6, 2, 14, 0))
			},
			user: "alice", app: "accounting", build: "1338",
			want:      "🎫 accounting 1338 boarded the 14:00 train to production (car 1 of 1)",
			wantLevel: chat.Success, wantAboard: []string{"accounting 1338"},
		},
		{
			// The bot was down at 14:00: back within grace, it runs
			// the departure late, with this car.
			name: "a departure due within grace, not run yet, takes the car", now: at(2026, 6, 2, 14, 5),
			setup: func(h *harness) {
				h.store.MarkRun(h.t.Context(), "daily", KindDeparture, at(2026, 6, 1, 14, 0))
			},
			user: "alice", app: "accounting", build: "1338",
			want:      "🎫 accounting 1338 boarded the 14:00 train to production (car 1 of 1)",
			wantLevel: chat.Success, wantAboard: []string{"accounting 1338"},
		},
		{
			// Up to a minute late is on time, whatever the grace: a
			// leader taking over then runs it, with this car.
			name: "a departure due less than a minute ago, with grace 0s, takes the car", now: at(2026, 6, 2, 14, 0).Add(40 * time.Second),
			edit: func(c *config.Config) { c.Trains["daily"].Grace = 0 },
			setup: func(h *harness) {
				h.store.MarkRun(h.t.Context(), "daily", KindDeparture, at(2026, 6, 1, 14, 0))
			},
			user: "alice", app: "accounting", build: "1338",
			want:      "🎫 accounting 1338 boarded the 14:00 train to production (car 1 of 1)",
			wantLevel: chat.Success, wantAboard: []string{"accounting 1338"},
		},
		{
			// The bot does not run the 14:00 departure of a train that
			// never left for a car boarded after it, whenever it started.
			name: "a train that never left, its departure due as the first car boards", now: at(2026, 6, 2, 14, 5),
			user: "alice", app: "accounting", build: "1338",
			want:      "🎫 accounting 1338 boarded the Wed 14:00 train to production (car 1 of 1)",
			wantLevel: chat.Success, wantAboard: []string{"accounting 1338"},
		},
		{
			name: "a departure that has left leaves the car for the next one", now: at(2026, 6, 2, 14, 5),
			setup: func(h *harness) {
				h.store.MarkRun(h.t.Context(), "daily", KindDeparture, at(2026, 6, 2, 14, 0))
			},
			user: "alice", app: "accounting", build: "1338",
			want:      "🎫 accounting 1338 boarded the Wed 14:00 train to production (car 1 of 1)",
			wantLevel: chat.Success, wantAboard: []string{"accounting 1338"},
		},
		{
			name: "a departure weeks away is named by its date, not its weekday alone",
			edit: func(c *config.Config) { c.Trains["daily"].Departure = "0 14 1 * *" },
			user: "alice", app: "accounting", build: "1338",
			want:      "🎫 accounting 1338 boarded the Wed 1 Jul 14:00 train to production (car 1 of 1)",
			wantLevel: chat.Success, wantAboard: []string{"accounting 1338"},
		},
		{
			name: "a departure six days away is named by its weekday", now: at(2026, 6, 5, 15, 0), // a Friday
			edit: func(c *config.Config) { c.Trains["daily"].Departure = "0 14 * * 4" },
			user: "alice", app: "accounting", build: "1338",
			want:      "🎫 accounting 1338 boarded the Thu 14:00 train to production (car 1 of 1)",
			wantLevel: chat.Success, wantAboard: []string{"accounting 1338"},
		},
		{
			name: "a window closed at departure, open now, is warned of",
			edit: func(c *config.Config) {
				c.Apps["accounting"].Envs["production"].Window = &config.Window{Timezone: "Europe/Warsaw", Weekly: []string{"Mon-Fri 09:00-13:00"}}
			},
			user: "alice", app: "accounting", build: "1338",
			want: "🎫 accounting 1338 boarded the 14:00 train to production (car 1 of 1)\n" +
				"  ⚠ deploys to accounting/production are closed at its departure, Tue 2 Jun 14:00 CEST: outside the deploy window (Mon-Fri 09:00-13:00 Europe/Warsaw); the next window opens Wed 3 Jun 09:00 CEST; unless that changes, the car moves to the next train.",
			wantLevel: chat.Warning, wantAboard: []string{"accounting 1338"},
		},
		{
			name: "a freeze that starts after the departure is not warned of", now: at(2026, 12, 18, 11, 0), // a Friday
			edit: func(c *config.Config) {
				c.Apps["accounting"].Envs["production"].Window = &config.Window{Timezone: "Europe/Warsaw",
					Freezes: []config.Freeze{{From: "2026-12-21", To: "2027-01-03", Message: "year-end freeze"}}}
			},
			user: "alice", app: "accounting", build: "1338",
			want: "🎫 accounting 1338 boarded the 14:00 train to production (car 1 of 1)", wantLevel: chat.Success,
			wantAboard: []string{"accounting 1338"},
		},
		{
			name: "a freeze at departure is warned of", now: at(2026, 12, 18, 15, 0), // a Friday, after the departure
			edit: func(c *config.Config) {
				c.Apps["accounting"].Envs["production"].Window = &config.Window{Timezone: "Europe/Warsaw",
					Freezes: []config.Freeze{{From: "2026-12-21", To: "2027-01-03", Message: "year-end freeze"}}}
			},
			user: "alice", app: "accounting", build: "1338",
			want: "🎫 accounting 1338 boarded the Mon 14:00 train to production (car 1 of 1)\n" +
				"  ⚠ deploys to accounting/production are closed at its departure, Mon 21 Dec 14:00 CET: frozen: year-end freeze (until 2027-01-04 00:00 CET); the next window opens Mon 4 Jan 2027 00:00 CET; unless that changes, the car moves to the next train.",
			wantLevel: chat.Warning, wantAboard: []string{"accounting 1338"},
		},
		{
			name:  "store down",
			setup: func(h *harness) { h.store.setFail(errors.New("connection refused")) },
			user:  "alice", app: "accounting", build: "1338",
			// The store may have taken the car and lost only its reply.
			want: "unavailable: whether accounting 1338 boarded the daily train is not known (state store unreachable): " + suggest.Command("train") + " lists who is aboard",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = at(2026, 6, 2, 11, 0)
			}
			h := newHarness(t, now, tc.edit)
			for _, b := range tc.before {
				h.board(b.user, b.app, b.build)
			}
			if tc.setup != nil {
				tc.setup(h)
			}
			name := tc.train
			if name == "" {
				name = "daily"
			}
			m, err := h.s.Board(t.Context(), tc.user, name, tc.app, tc.build, tc.env)
			got := render(m)
			if err != nil {
				got = errText(err)
			}
			if got != tc.want {
				t.Errorf("Board:\ngot  %s\nwant %s", got, tc.want)
			}
			if err == nil && (m.Level != tc.wantLevel || !m.Public) {
				t.Errorf("Board: got level %q public %v, want %q public", m.Level, m.Public, tc.wantLevel)
			}
			h.store.setFail(nil)
			if got := h.aboard("daily"); !slices.Equal(got, tc.wantAboard) {
				t.Errorf("aboard: got %q, want %q", got, tc.wantAboard)
			}
		})
	}
}

// TestBoardHostileBuild: a build becomes part of the command the departure
// runs, so anything but a build name is refused.
func TestBoardHostileBuild(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	for _, build := range []string{`1338 --force "x"`, "../../etc/passwd", "$(id)", "1338;id", "", "1338\nto staging"} {
		_, err := h.s.Board(t.Context(), "alice", "daily", "accounting", build, "")
		if got := errText(err); !strings.HasPrefix(got, "invalid: build") && !strings.HasPrefix(got, "invalid: the build") {
			t.Errorf("Board with build %q: got %s, want an invalid build", build, got)
		}
	}
	if got := h.aboard("daily"); len(got) != 0 {
		t.Errorf("aboard: got %q, want nobody", got)
	}
}

func TestLeave(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	for _, tc := range []struct{ user, train, app, want string }{
		{"alice", "daily", "accounting", "accounting 1338 (@alice) left the 14:00 train to production"},
		{"alice", "daily", "accounting", "not_found: accounting is not aboard the daily train"},
		{"ana", "daily", "billing", "billing 77 (@bob) left the 14:00 train to production (taken off by @ana)"},
		{"ana", "weekly", "billing", `not_found: there is no train "weekly"; trains: daily`},
	} {
		m, err := h.s.Leave(t.Context(), tc.user, tc.train, tc.app)
		got := m.Title
		if err != nil {
			got = errText(err)
		}
		if got != tc.want {
			t.Errorf("Leave(%s, %s, %s): got %q, want %q", tc.user, tc.train, tc.app, got, tc.want)
		}
	}
	if got := h.aboard("daily"); len(got) != 0 {
		t.Errorf("aboard: got %q, want nobody", got)
	}
}

func TestList(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), func(c *config.Config) {
		c.Trains["weekly"] = &config.Train{
			Name: "weekly", Env: "staging", Channels: []string{"#staging"}, Timezone: "America/New_York",
			Boarding: "0 6 * * 3", Departure: "0 9 * * 3", Empty: "note",
		}
	})
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	if _, err := h.s.Cancel(t.Context(), "ana", "weekly", "staging rebuild"); err != nil {
		t.Fatal(err)
	}
	m, err := h.s.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := "🚂 Trains\n" +
		"  daily → production: next departure Tue 2 Jun 14:00 CEST; aboard: accounting 1338 (@alice), billing 77 (@bob)\n" +
		"  weekly → staging: next departure Wed 10 Jun 09:00 EDT (Wed 3 Jun 09:00 EDT cancelled); nobody aboard"
	if got := render(m); got != want {
		t.Errorf("List:\ngot  %s\nwant %s", got, want)
	}
}

func TestDepartNow(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 32), nil)
	h.board("alice", "accounting", "1338")
	m, err := h.s.DepartNow(t.Context(), "ana", "daily")
	if err != nil {
		t.Fatalf("DepartNow: %v", err)
	}
	if want := "🚂 Sending the daily train to production off now; the summary follows in its channel"; m.Title != want {
		t.Errorf("DepartNow reply: got %q, want %q", m.Title, want)
	}
	h.s.wg.Wait()
	want := "🚂 The 11:32 train to production has left: 1 shipped\n" +
		"  sent off early by @ana\n" +
		"  ✅ accounting 1338 (@alice): deploy d1 succeeded"
	if got := h.notes.find("#deploys", "🚂 The 11:32 train to production has left"); len(got) != 1 || render(got[0]) != want {
		t.Errorf("summary: got %v, want %q", got, want)
	}

	// One departure of a train at a time.
	tr := h.s.trains["daily"]
	tr.busy <- struct{}{}
	// Refused as a deploy behind another is: saying that nothing was
	// done, and how to stop what runs.
	busy := "conflict: the daily train is departing already; nothing was sent off: the departure under way takes the cars aboard, " +
		"and its summary follows in the train's channels; no other car is aboard; " + suggest.Command("status") +
		" names the car it is shipping, and cancel, with that car's app and production, stops its deploy and switches its hosts back"
	if _, err := h.s.DepartNow(t.Context(), "ana", "daily"); errText(err) != busy {
		t.Errorf("DepartNow while departing:\ngot  %s\nwant %s", errText(err), busy)
	}
	tr.giveBack()
	if _, err := h.s.DepartNow(t.Context(), "ana", "nightly"); errText(err) != `not_found: there is no train "nightly"; trains: daily` {
		t.Errorf("DepartNow of an unknown train: got %s", errText(err))
	}

	// Not after Run returned.
	h.run(at(2026, 6, 2, 11, 33))
	if _, err := h.s.DepartNow(t.Context(), "ana", "daily"); errText(err) != "unavailable: the train scheduler is stopped" {
		t.Errorf("DepartNow after Run: got %s", errText(err))
	}
}

func TestNew(t *testing.T) {
	bad := func(edit func(*config.Train)) *config.Config {
		c := testConfig()
		edit(c.Trains["daily"])
		return c
	}
	for _, tc := range []struct {
		name string
		opt  Options
		want string
	}{
		{"no config", Options{Store: NewMemStore(), Runner: &fakeRunner{}, Notifier: &fakeNotifier{}}, "train scheduler: no config"},
		{"no store", Options{Config: testConfig(), Runner: &fakeRunner{}, Notifier: &fakeNotifier{}}, "train scheduler: no store"},
		{"no audit log", Options{Config: testConfig(), Store: NewMemStore(), Runner: &fakeRunner{}, Notifier: &fakeNotifier{}}, "train scheduler: no audit log"},
		{"bad departure", Options{Config: bad(func(t *config.Train) { t.Departure = "@every 1h" }), Store: NewMemStore(), Runner: &fakeRunner{}, Notifier: &fakeNotifier{}, Audit: NewMemStore()},
			`train daily: departure schedule: "@every 1h" is not a calendar schedule (use minute hour day month weekday)`},
		{"no channel", Options{Config: bad(func(t *config.Train) { t.Channels = nil }), Store: NewMemStore(), Runner: &fakeRunner{}, Notifier: &fakeNotifier{}, Audit: NewMemStore()},
			"train daily: no channel for its announcements"},
	} {
		if _, err := New(tc.opt); err == nil || err.Error() != tc.want {
			t.Errorf("%s: New: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestListNamesADueDeparture: a departure due that has not taken its
// cars yet (waiting for one sent off early) is the one the cars aboard
// leave with, not the next day's, which the list used to name.
func TestListNamesADueDeparture(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 13, 58), nil)
	h.board("alice", "accounting", "1338")
	h.clock.Set(at(2026, 6, 2, 14, 3))
	h.store.MarkRun(t.Context(), "daily", KindDeparture, at(2026, 6, 2, 14, 0))
	h.store.MarkRun(t.Context(), "daily", KindWaiting, at(2026, 6, 2, 14, 0))
	m, err := h.s.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := "🚂 Trains\n" +
		"  daily → production: departure Tue 2 Jun 14:00 CEST due, not left yet; aboard: accounting 1338 (@alice)"
	if got := render(m); got != want {
		t.Errorf("List:\ngot  %s\nwant %s", got, want)
	}
}

// TestCancelAfterAFirstDepartureNotRun: a train that never left, whose
// departure fell due before the bot started and before any car boarded,
// does not run that departure late; a cancel then calls off the next one,
// which would leave. It used to call off the one due, which would not,
// and let the next one leave with the cars.
func TestCancelAfterAFirstDepartureNotRun(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 14, 3), nil)
	h.board("alice", "accounting", "1338")
	h.run(at(2026, 6, 2, 14, 4)) // the bot started at 14:03
	h.clock.Set(at(2026, 6, 2, 14, 5))
	reply, err := h.s.Cancel(t.Context(), "ana", "daily", "incident")
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if !strings.Contains(reply.Title, "Wed 3 Jun 14:00") {
		t.Errorf("Cancel reply: got %q, want Wednesday's 14:00 cancelled", reply.Title)
	}
	h.run(at(2026, 6, 3, 14, 30))
	if got := h.runner.texts(); len(got) != 0 {
		t.Errorf("deploys: got %q, want none: the next departure was cancelled", got)
	}
}

// TestFailedAnnouncementReported: an announcement the chat platform
// refuses is logged at ERROR with its train, as the bot's other failed
// posts are, and written to the audit log, where the train's departures
// are: nobody in the channel hears of it. It used to be logged without
// the train, and nowhere else.
func TestFailedAnnouncementReported(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 9, 59), nil)
	var logs syncbuf.Buffer
	h.log = slog.New(slog.NewTextHandler(&logs, nil))
	h.notes.mu.Lock()
	h.notes.fail = errors.New("slack: channel_not_found")
	h.notes.mu.Unlock()
	h.run(at(2026, 6, 2, 10, 1))
	want := `switchman event: train daily post: not posted to #deploys: "🚂 The 14:00 train to production is boarding. Nobody is aboard yet: train board APP BUILD.": post to #deploys: slack: channel_not_found`
	if got := h.store.audited(); !slices.Contains(got, want) {
		t.Errorf("audit log: got %q, want it to hold %q", got, want)
	}
	for _, w := range []string{"level=ERROR", "train=daily", "channel=#deploys", "channel_not_found"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log: got %q, want %q in it", logs.String(), w)
		}
	}
}

// TestListWithNoTrainConfigured: with every train removed from the
// config, the list says first that no train is configured, then the cars
// still aboard the removed ones. It used to answer as a list of trains,
// headed "🚂 Trains", when cars were left aboard.
func TestListWithNoTrainConfigured(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.cfg.Trains = nil
	h.restart()
	tests := []struct {
		name  string
		board []Car
		want  string
		level chat.Level
	}{
		{name: "nobody aboard", want: "No trains are configured", level: chat.Info},
		{name: "cars left aboard a removed train", board: []Car{{App: "billing", Build: "77", Env: "production", User: "bob", Boarded: at(2026, 6, 1, 11, 0)}},
			want: "No trains are configured\n" +
				"  ⚠ daily is no longer in the config: its cars never leave: billing 77 (@bob); take each off with " + suggest.Command(`train leave billing on "daily"`),
			level: chat.Warning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range tc.board {
				if _, err := h.store.Board(t.Context(), "daily", c, 0, nil); err != nil {
					t.Fatal(err)
				}
			}
			m, err := h.s.List(t.Context())
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got := render(m); got != tc.want || m.Level != tc.level {
				t.Errorf("List:\ngot  %s (%v)\nwant %s (%v)", got, m.Level, tc.want, tc.level)
			}
		})
	}
}

// TestDepartNowEmptySilent: a train with empty: silent sent off with
// nobody aboard posts nothing, so the reply does not promise a summary in
// its channel, as it used to.
func TestDepartNowEmptySilent(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 32), func(c *config.Config) { c.Trains["daily"].Empty = "silent" })
	m, err := h.s.DepartNow(t.Context(), "ana", "daily")
	if err != nil {
		t.Fatalf("DepartNow: %v", err)
	}
	h.s.wg.Wait()
	if want := "🚂 Sending the daily train to production off now; nobody is aboard, so it leaves empty, unannounced (empty: silent)"; m.Title != want {
		t.Errorf("DepartNow reply: got %q, want %q", m.Title, want)
	}
	if n := h.notes.count(); n != 0 {
		t.Errorf("posts: got %d, want none", n)
	}
}

// TestCancelAfterACrashWhileWaiting: a departure that waited for an
// early one when the bot died left its waiting mark behind; past its
// grace, when it would have given up waiting, it waits no more, and a
// cancel calls off the next departure. It used to call off that one, long
// gone, and let the next one leave with the cars.
func TestCancelAfterACrashWhileWaiting(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 13, 0), nil)
	h.board("alice", "accounting", "1338")
	h.store.MarkRun(t.Context(), "daily", KindDeparture, at(2026, 6, 2, 14, 0))
	h.store.MarkRun(t.Context(), "daily", KindWaiting, at(2026, 6, 2, 14, 0))
	h.clock.Set(at(2026, 6, 2, 16, 0))
	reply, err := h.s.Cancel(t.Context(), "ana", "daily", "incident")
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if !strings.Contains(reply.Title, "Wed 3 Jun 14:00") {
		t.Errorf("Cancel reply: got %q, want Wednesday's 14:00 cancelled", reply.Title)
	}
	h.run(at(2026, 6, 3, 14, 30))
	if got := h.runner.texts(); len(got) != 0 {
		t.Errorf("deploys: got %q, want none: the next departure was cancelled", got)
	}
}

// TestDueDepartureWhateverTheReplicaStart: which departure of a train that
// never left is due comes from the store (the cars aboard, the departures
// recorded) and the schedule, the same on every replica, not from when
// the replica asked started: a replica started after the missed 14:00
// departure named the next day's train while the leader, started before
// it, ran the 14:00 one late, and a cancel there called off the wrong one.
func TestDueDepartureWhateverTheReplicaStart(t *testing.T) {
	starts := []struct {
		name string
		at   time.Time
	}{
		{"not run yet", time.Time{}},
		{"started before the departure", at(2026, 6, 2, 13, 0)},
		{"started just before the departure", at(2026, 6, 2, 13, 59)},
		{"started after the departure", at(2026, 6, 2, 14, 2)},
	}
	tests := []struct {
		name    string
		boarded time.Time
		want    string // the List line
	}{
		{
			// A car aboard before 14:00: the departure missed within
			// grace runs late with it.
			name: "a car boarded before the departure", boarded: at(2026, 6, 2, 13, 30),
			want: "daily → production: departure Tue 2 Jun 14:00 CEST due, not left yet; aboard: accounting 1338 (@alice)",
		},
		{
			// The first car boarded after it: the 14:00 departure
			// does not run for it, whoever leads.
			name: "the first car boarded after the departure", boarded: at(2026, 6, 2, 14, 3),
			want: "daily → production: next departure Wed 3 Jun 14:00 CEST; aboard: accounting 1338 (@alice)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.boarded, nil)
			h.board("alice", "accounting", "1338")
			now := at(2026, 6, 2, 14, 5)
			h.clock.Set(now)
			for _, st := range starts {
				// A follower that ran from st.at, or one not run yet.
				h.leader = false
				if st.at.IsZero() {
					h.restart()
				} else {
					h.clock.Set(st.at)
					h.run(now)
				}
				m, err := h.s.List(t.Context())
				if err != nil {
					t.Fatalf("%s: List: %v", st.name, err)
				}
				if len(m.Lines) != 1 || m.Lines[0] != tc.want {
					t.Errorf("%s: List: got %q, want %q", st.name, m.Lines, tc.want)
				}
			}
			// The leader, which last looked at 13:59 (a long pause),
			// does as every replica said.
			h.leader = true
			h.s.tick(t.Context(), at(2026, 6, 2, 13, 59), now)
			h.s.wg.Wait()
			left := len(h.runner.texts()) > 0
			if wantLeft := strings.Contains(tc.want, "due"); left != wantLeft {
				t.Errorf("the leader ran the 14:00 departure: got %v, want %v", left, wantLeft)
			}
		})
	}
}

// TestCarsOfATrainNoLongerConfigured: the cars of a train removed from
// the config, or renamed, never leave; the list names them and how to
// take them off, and train leave takes them off. They used to stay
// aboard unseen for good.
func TestCarsOfATrainNoLongerConfigured(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	// Renamed: the cars stay aboard the train of the old name.
	nightly := dailyTrain()
	nightly.Name = "nightly"
	h.cfg.Trains = map[string]*config.Train{"nightly": nightly}
	h.restart()

	list := func() string {
		t.Helper()
		m, err := h.s.List(t.Context())
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		return render(m)
	}
	want := "🚂 Trains\n" +
		"  nightly → production: next departure Tue 2 Jun 14:00 CEST; nobody aboard\n" +
		"  ⚠ daily is no longer in the config: its cars never leave: accounting 1338 (@alice), billing 77 (@bob); take each off with " +
		suggest.Command(`train leave accounting on "daily"`) + ", " + suggest.Command(`train leave billing on "daily"`)
	if got := list(); got != want {
		t.Errorf("List:\ngot  %s\nwant %s", got, want)
	}

	tests := []struct {
		name, user, train, app string
		want                   string // the reply's title, or the error
	}{
		{name: "by its boarder", user: "alice", train: "daily", app: "accounting",
			want: "accounting 1338 (@alice) left the daily train, which is no longer in the config"},
		{name: "by another", user: "ana", train: "daily", app: "billing",
			want: "billing 77 (@bob) left the daily train, which is no longer in the config (taken off by @ana)"},
		{name: "not aboard", user: "ana", train: "daily", app: "search",
			want: `not_found: there is no train "daily"; trains: nightly`},
		{name: "no such train", user: "ana", train: "weekly", app: "search",
			want: `not_found: there is no train "weekly"; trains: nightly`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := h.s.Leave(t.Context(), tc.user, tc.train, tc.app)
			got := m.Title
			if err != nil {
				got = errText(err)
			}
			if got != tc.want {
				t.Errorf("Leave: got %q, want %q", got, tc.want)
			}
		})
	}
	want = "🚂 Trains\n  nightly → production: next departure Tue 2 Jun 14:00 CEST; nobody aboard"
	if got := list(); got != want {
		t.Errorf("List once taken off:\ngot  %s\nwant %s", got, want)
	}
	// No departure of a train no longer in the config reads or drops
	// a taken-off record: one kept would outlive it, and be read as the
	// car's by a train given the name again.
	for _, app := range []string{"accounting", "billing"} {
		if off, err := h.store.TakenOff(t.Context(), "daily", app); err != nil || off != (TakenOff{}) {
			t.Errorf("TakenOff(daily, %s): got %+v, %v, want none", app, off, err)
		}
	}
}

// TestCancelOfATrainNoLongerConfigured: calling off a train the config
// no longer has takes its cars off and keeps no taken-off record of
// them, which no departure of it would ever read or drop.
func TestCancelOfATrainNoLongerConfigured(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	nightly := dailyTrain()
	nightly.Name = "nightly"
	h.cfg.Trains = map[string]*config.Train{"nightly": nightly}
	h.restart()

	m, err := h.s.Cancel(t.Context(), "ana", "daily", "renamed")
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	want := "🚫 The daily train, which is no longer in the config, is cancelled by @ana: renamed; its cars left: accounting 1338 (@alice), billing 77 (@bob)"
	if m.Title != want {
		t.Errorf("Cancel: got %q, want %q", m.Title, want)
	}
	if cars, err := h.store.Cars(t.Context(), "daily"); err != nil || len(cars) != 0 {
		t.Errorf("Cars(daily): got %v, %v, want none", cars, err)
	}
	for _, app := range []string{"accounting", "billing"} {
		if off, err := h.store.TakenOff(t.Context(), "daily", app); err != nil || off != (TakenOff{}) {
			t.Errorf("TakenOff(daily, %s): got %+v, %v, want none", app, off, err)
		}
	}
}

// TestCancelNotAnnouncedSaidAgain: a cancel whose announcement no channel
// took says so in its reply and is not recorded as announced, so saying
// it again, once the chat platform takes posts, announces it. It used to
// reply "announced" and answer the repeat that it was, the channel never
// told.
func TestCancelNotAnnouncedSaidAgain(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.notes.mu.Lock()
	h.notes.fail = errors.New("slack: channel_not_found")
	h.notes.mu.Unlock()
	reply, err := h.s.Cancel(t.Context(), "ana", "daily", "incident")
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	// Its end offers no command: saying the cancel again, reason and
	// all, is what announces it, and is prose, not one to send as it
	// stands.
	const end = "; the train's channels could not be told (the chat platform refused every post; the bot's log says why): " +
		"the same cancel, sent again, announces it"
	if !strings.HasSuffix(reply.Title, end) || reply.Level != chat.Warning {
		t.Errorf("Cancel with every post refused: got %q (%v), want a warning ending %q", reply.Title, reply.Level, end)
	}
	h.notes.mu.Lock()
	h.notes.fail = nil
	h.notes.mu.Unlock()
	reply, err = h.s.Cancel(t.Context(), "ana", "daily", "incident")
	if err != nil {
		t.Fatalf("Cancel said again: %v", err)
	}
	if want := "already cancelled; announced in the train's channels now"; !strings.Contains(reply.Title, want) {
		t.Errorf("Cancel said again: got %q, want it to say %q", reply.Title, want)
	}
	if got := h.notes.titles("#deploys"); len(got) != 1 || !strings.HasPrefix(got[0], "🚫 The ") || !strings.Contains(got[0], "@ana: incident") {
		t.Errorf("#deploys: got %q, want the one cancellation by @ana", got)
	}
}

// TestDepartNowUnrecordedDoesNotLeave: a train depart now whose record as
// leaving the store refuses is refused, saying why and that the train did
// not leave, and gives back the train and its lease; one whose record was
// made all the same (its reply lost) is not taken for a departure the bot
// died during. It was only logged, and the train left unrecorded: a bot
// that died during it left it unsaid.
func TestDepartNowUnrecordedDoesNotLeave(t *testing.T) {
	const want = "state store unreachable: the departure could not be recorded, so the daily train did not leave and its cars stay aboard; nothing was changed"
	for _, lands := range []bool{false, true} {
		t.Run(fmt.Sprintf("record made %v", lands), func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
			h.run(at(2026, 6, 2, 14, 30)) // Tuesday's departure ran to its end
			h.clock.Set(at(2026, 6, 3, 11, 0))
			leases := &oneLease{}
			h.leases = leases
			h.restart()
			h.board("alice", "accounting", "1338")
			h.store.setFailMark(KindEarly, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused"), lands)
			posts := h.notes.count()
			refused := h.s
			_, err := refused.DepartNow(t.Context(), "ana", "daily")
			refused.wg.Wait()
			if got := errs.Message(err); got != want || errs.CodeOf(err) != errs.Unavailable {
				t.Errorf("reply: got %q (code %s), want %q (code %s)", got, errs.CodeOf(err), want, errs.Unavailable)
			}
			if got := h.runner.texts(); len(got) != 0 {
				t.Errorf("deploys: got %q, want none", got)
			}
			if got := h.aboard("daily"); !slices.Equal(got, []string{"accounting 1338"}) {
				t.Errorf("aboard: got %q, want accounting 1338", got)
			}
			if n := h.notes.count(); n != posts {
				t.Errorf("posts: got %d new, want none", n-posts)
			}
			if leases.isHeld() {
				t.Error("the train's departure lease is still held")
			}
			// An end recorded for a departure not recorded would hide an
			// earlier one the bot died during.
			if ended, err := h.store.LastRun(t.Context(), "daily", KindEarlyEnded); err != nil || ended.IsZero() == lands {
				t.Errorf("end recorded: got %v (%v), want one %v", ended, err, lands)
			}
			// The next start says nothing of it.
			h.store.setFailMark(KindEarly, nil, false)
			posts = h.notes.count()
			h.clock.Set(at(2026, 6, 3, 11, 5))
			h.run(at(2026, 6, 3, 11, 6))
			h.notes.mu.Lock()
			for _, p := range h.notes.posts[posts:] {
				t.Errorf("posted at the next start: %q, want nothing", p.msg.Title)
			}
			h.notes.mu.Unlock()
			// The train is free again on the replica that refused.
			if _, err := refused.DepartNow(t.Context(), "ana", "daily"); err != nil {
				t.Errorf("depart now once the store is back: %v", err)
			}
			refused.wg.Wait()
		})
	}
}

// oneLease hands out one lease at a time, held until released.
type oneLease struct {
	mu   sync.Mutex
	held bool
}

func (l *oneLease) Acquire(_ context.Context, key, _ string, _ time.Duration) (deploy.Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		return nil, &deploy.LeaseHeldError{Key: key, Holder: "departure of daily 0a1b2c3d4e5f"}
	}
	l.held = true
	return releasing{l}, nil
}

func (l *oneLease) Holder(context.Context, string) (string, error) { return "", nil }

func (l *oneLease) isHeld() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

type releasing struct{ l *oneLease }

func (releasing) Token() int64                { return 1 }
func (releasing) Check(context.Context) error { return nil }
func (releasing) Renew(context.Context) error { return nil }
func (r releasing) Release(context.Context) error {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	r.l.held = false
	return nil
}
