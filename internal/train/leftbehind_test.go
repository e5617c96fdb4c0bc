package train

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestCarLeftBehindSaidBeforeTheDeparture: a car whose app, or the app's
// env, was removed from the config after it boarded never ships, nor
// does one boarded for an env the train no longer goes to. The boarding
// reply, the boarding and reminder announcements and train say so
// beforehand, as the departure will, rather than list it among the cars
// that leave; the boarding reply's place counts only the cars that leave.
func TestCarLeftBehindSaidBeforeTheDeparture(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remove func(*config.Config)
		env    string // where the train goes after remove
		ship   string // the cars that leave, carl's search 5 boarded last
		place  string // search 5's place among them
		behind string
	}{
		{"app removed", func(c *config.Config) { delete(c.Apps, "billing") }, "production",
			"accounting 1338 (@alice), search 5 (@carl)", "(car 2 of 2)",
			"billing 77 (@bob) left behind: its app is no longer configured"},
		{"env removed", func(c *config.Config) { delete(c.Apps["billing"].Envs, "production") }, "production",
			"accounting 1338 (@alice), search 5 (@carl)", "(car 2 of 2)",
			"billing 77 (@bob) left behind: its app's env production is no longer configured"},
		{"train sent elsewhere", func(c *config.Config) { c.Trains["daily"].Env = "staging" }, "staging",
			"search 5 (@carl)", "(car 1 of 1)",
			"accounting 1338 (@alice), billing 77 (@bob) left behind: they boarded for production, and the train goes to staging now; to board again: " +
				suggest.Command("train board accounting 1338 on daily") + ", " + suggest.Command("train board billing 77 on daily")},
		{"train sent elsewhere, the env gone too", func(c *config.Config) {
			c.Trains["daily"].Env = "staging"
			delete(c.Apps["billing"].Envs, "production")
		}, "staging",
			"search 5 (@carl)", "(car 1 of 1)",
			"accounting 1338 (@alice), billing 77 (@bob) left behind: they boarded for production, and the train goes to staging now; to board again: " +
				suggest.Command("train board accounting 1338 on daily") + ", " + suggest.Command("train board billing 77 on daily")},
		// A command that would be refused is no command to offer.
		{"train sent where an app has no env", func(c *config.Config) {
			c.Trains["daily"].Env = "staging"
			delete(c.Apps["billing"].Envs, "staging")
		}, "staging",
			"search 5 (@carl)", "(car 1 of 1)",
			"accounting 1338 (@alice), billing 77 (@bob) left behind: they boarded for production, and the train goes to staging now; to board again: " +
				suggest.Command("train board accounting 1338 on daily") + "; billing has no env staging, so it cannot board this train"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 1, 9, 0), nil)
			h.board("alice", "accounting", "1338")
			h.board("bob", "billing", "77")
			tc.remove(h.cfg)
			h.restart()

			reply, err := h.s.Board(t.Context(), "carl", "daily", "search", "5", "")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := reply.Title, "🎫 search 5 boarded the 14:00 train to "+tc.env+" "+tc.place; got != want {
				t.Errorf("boarding reply: got %q, want %q", got, want)
			}
			if got, want := render(reply), "\n  "+tc.behind+"."; !strings.Contains(got, want) {
				t.Errorf("boarding reply: got %q, want it to contain %q", got, want)
			}
			list, err := h.s.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := render(list), "aboard: "+tc.ship+"; "+tc.behind; !strings.Contains(got, want) {
				t.Errorf("train: got %q, want it to contain %q", got, want)
			}

			h.run(at(2026, 6, 1, 13, 50))
			for _, want := range []string{
				"🚂 The 14:00 train to " + tc.env + " is boarding: " + tc.ship + ". Board with train board APP BUILD.\n  " + tc.behind + ".",
				"⏰ The 14:00 train to " + tc.env + " leaves in 15 minutes: " + tc.ship + ".\n  " + tc.behind + ".",
			} {
				prefix, _, _ := strings.Cut(want, ":")
				var got []string
				for _, m := range h.notes.find("#deploys", prefix) {
					got = append(got, render(m))
				}
				if len(got) != 1 || got[0] != want {
					t.Errorf("announcement: got %q, want %q", got, want)
				}
			}
		})
	}
}

// TestFullTrainCountsOnlyCarsThatLeave: max_cars bounds the cars that
// can leave, as the boarding reply's place counts them: a car left
// behind takes no place, and the refusal of a full train counts the
// cars that can leave.
func TestFullTrainCountsOnlyCarsThatLeave(t *testing.T) {
	type boarding struct{ user, app, build, place string }
	for _, tc := range []struct {
		name   string
		remove func(*config.Config)
		boards []boarding // each boards, after the removal, in this place
		// refused, if set, is refused after boards, the train full.
		refused *boarding
	}{
		{"app removed", func(c *config.Config) { delete(c.Apps, "billing") },
			[]boarding{{"carl", "search", "5", "(car 2 of 2)"}}, &boarding{"dora", "mail", "1", ""}},
		{"env removed", func(c *config.Config) { delete(c.Apps["billing"].Envs, "production") },
			[]boarding{{"carl", "search", "5", "(car 2 of 2)"}}, &boarding{"dora", "mail", "1", ""}},
		{"train sent elsewhere", func(c *config.Config) { c.Trains["daily"].Env = "staging" },
			[]boarding{{"carl", "search", "5", "(car 1 of 1)"}, {"dora", "mail", "1", "(car 2 of 2)"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 1, 9, 0), func(c *config.Config) {
				c.Trains["daily"].MaxCars = 2
				c.Apps["mail"].Envs["production"] = &config.Env{Name: "production"}
			})
			h.board("alice", "accounting", "1338")
			h.board("bob", "billing", "77")
			tc.remove(h.cfg)
			h.restart()

			for _, b := range tc.boards {
				reply, err := h.s.Board(t.Context(), b.user, "daily", b.app, b.build, "")
				if err != nil {
					t.Fatalf("board %s %s beside the cars left behind: got %v, want it aboard", b.app, b.build, err)
				}
				if !strings.HasSuffix(reply.Title, " "+b.place) {
					t.Errorf("boarding reply: got %q, want it to end in %q", reply.Title, b.place)
				}
			}
			if b := tc.refused; b != nil {
				_, err := h.s.Board(t.Context(), b.user, "daily", b.app, b.build, "")
				if want := "the daily train is full (2 cars)"; errs.CodeOf(err) != errs.Conflict || errs.Message(err) != want {
					t.Errorf("board %s %s on a full train: got %v, want %q", b.app, b.build, err, want)
				}
			}
		})
	}
}
