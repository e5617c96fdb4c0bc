package train

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// carsRefused is a store whose cars cannot be read.
type carsRefused struct{ Store }

func (carsRefused) Cars(context.Context, string) ([]Car, error) {
	return nil, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

// TestSuggestedCommands: each text of a train that offers a command to
// type marks exactly that command as the bot's suggestion, so that a
// renderer writes it as a command, and the command marked is whole: it
// parses back to what the text means. They were plain text, and offered
// "train leave APP on …" and "cancel APP production", which no app is
// named, where the cars aboard were known, and "board it again" of a car
// whose app, build and train were known.
func TestSuggestedCommands(t *testing.T) {
	now := at(2026, 6, 1, 14, 5)
	leave := func(app, train string, gone bool) commands.Command {
		return commands.Command{Verb: commands.VerbTrain, TrainAction: commands.TrainLeave, App: app, Train: train, TrainGone: gone}
	}
	board := func(app, build, train string) commands.Command {
		return commands.Command{Verb: commands.VerbTrain, TrainAction: commands.TrainBoard, App: app, Build: build, Train: train}
	}
	status := commands.Command{Verb: commands.VerbStatus}
	list := commands.Command{Verb: commands.VerbTrain, TrainAction: commands.TrainList}
	tests := []struct {
		name  string
		board map[string][]string // apps aboard, by train
		// text returns the text, of h's scheduler.
		text func(t *testing.T, h *harness) string
		// want is what each marked command is, in order, as written and
		// as parsed back.
		want    []string
		wantCmd []commands.Command
	}{
		{name: "cars aboard a train no longer in the config",
			board: map[string][]string{"nightly": {"accounting", "shop"}},
			text: func(t *testing.T, h *harness) string {
				m, err := h.s.List(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				return strings.Join(m.Lines, "\n")
			},
			want:    []string{`train leave accounting on "nightly"`, `train leave "shop" on "nightly"`},
			wantCmd: []commands.Command{leave("accounting", "nightly", true), leave("shop", "nightly", true)}},
		{name: "departing already, cars aboard",
			board: map[string][]string{"daily": {"accounting", "shop"}},
			text: func(t *testing.T, h *harness) string {
				return departingRefusal(t, h)
			},
			want:    []string{"train leave accounting on daily", `train leave "shop" on daily`, "status"},
			wantCmd: []commands.Command{leave("accounting", "daily", false), leave("shop", "daily", false), status}},
		{name: "departing already, nobody aboard",
			text: func(t *testing.T, h *harness) string {
				return departingRefusal(t, h)
			},
			want:    []string{"status"},
			wantCmd: []commands.Command{status}},
		{name: "departing already, cars unread",
			text: func(t *testing.T, h *harness) string {
				h.s.store = carsRefused{h.store}
				return departingRefusal(t, h)
			},
			want:    []string{"train", "status"},
			wantCmd: []commands.Command{list, status}},
		{name: "cut short",
			board: map[string][]string{"daily": {"accounting"}},
			text: func(t *testing.T, h *harness) string {
				h.s.sayCutShort(t.Context(), "daily", h.s.trains["daily"], Departure{At: at(2026, 6, 1, 14, 0)}, now)
				ms := h.notes.find("#deploys", "The 14:00 train to production was cut short")
				if len(ms) != 1 {
					t.Fatalf("posts saying it was cut short: %d, want 1", len(ms))
				}
				return strings.Join(ms[0].Lines, "\n")
			},
			want:    []string{"status"},
			wantCmd: []commands.Command{status}},
		{name: "cars boarded for an env the train no longer goes to",
			board: map[string][]string{"daily": {"accounting", "billing"}},
			text: func(t *testing.T, h *harness) string {
				h.cfg.Trains["daily"].Env = "staging"
				h.restart()
				m, err := h.s.List(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				return strings.Join(m.Lines, "\n")
			},
			want:    []string{"train board accounting 7 on daily", "train board billing 7 on daily"},
			wantCmd: []commands.Command{board("accounting", "7", "daily"), board("billing", "7", "daily")}},
		{name: "a car boarded for an env the train no longer goes to, in the summary",
			board: map[string][]string{"daily": {"accounting"}},
			text: func(t *testing.T, h *harness) string {
				h.cfg.Trains["daily"].Env = "staging"
				h.restart()
				sum := h.s.Depart(t.Context(), "daily", "")
				return strings.Join(sum.Message.Lines, "\n")
			},
			want:    []string{"train board accounting 7 on daily"},
			wantCmd: []commands.Command{board("accounting", "7", "daily")}},
		{name: "cars that could not be put back aboard, in the summary",
			board: map[string][]string{"daily": {"accounting", "billing"}},
			text: func(t *testing.T, h *harness) string {
				h.runner.outcome["accounting"] = "refuse unavailable: cannot check build 7 of accounting"
				h.runner.outcome["billing"] = "refuse conflict: billing/production is busy"
				h.store.failReturn = errors.New("store down")
				sum := h.s.Depart(t.Context(), "daily", "")
				return strings.Join(sum.Message.Lines, "\n")
			},
			want:    []string{"train board accounting 7 on daily", "train board billing 7 on daily"},
			wantCmd: []commands.Command{board("accounting", "7", "daily"), board("billing", "7", "daily")}},
		{name: "cars unread at boarding",
			text: func(t *testing.T, h *harness) string {
				return strings.Join(unreadMessage(KindBoarding, "14:00 train to production", 0, "state store unreachable").Lines, "\n")
			},
			want:    []string{"train"},
			wantCmd: []commands.Command{list}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, now, nil)
			for name, apps := range tc.board {
				for _, app := range apps {
					if _, err := h.store.Board(t.Context(), name, Car{App: app, Build: "7", Env: "production", User: "bob", Boarded: now}, 0, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			text := tc.text(t, h)
			var got []string
			suggest.Rewrite(text, func(cmd string) string {
				got = append(got, cmd)
				return cmd
			})
			if !slices.Equal(got, tc.want) {
				t.Fatalf("commands marked in %q:\ngot  %q\nwant %q", text, got, tc.want)
			}
			cat := commands.CatalogOf(h.cfg)
			for i, cmd := range got {
				res := commands.Parse(cmd, cat, commands.Options{})
				if res.Kind != commands.Run {
					t.Errorf("%q does not parse: %s", cmd, res.Reply)
					continue
				}
				c, want := res.Cmd, tc.wantCmd[i]
				if c.Verb != want.Verb || c.TrainAction != want.TrainAction || c.App != want.App || c.Train != want.Train || c.TrainGone != want.TrainGone || c.Build != want.Build {
					t.Errorf("%q parses as %+v, want %+v", cmd, c, want)
				}
			}
		})
	}
}

// departingRefusal is the refusal of a train depart now of the daily
// train of h while it departs.
func departingRefusal(t *testing.T, h *harness) string {
	t.Helper()
	tr := h.s.trains["daily"]
	tr.busy <- struct{}{}
	defer tr.giveBack()
	_, err := h.s.DepartNow(t.Context(), "ana", "daily")
	if err == nil {
		t.Fatal("DepartNow while departing: not refused")
	}
	return errs.Message(err)
}

// TestSuggestedCommandsOfKeywordApps: the train board and train leave
// offered for a car parse back to that car whatever its app and build
// are named, a word of the grammar or a train's name included, on a train the config has
// or no longer has, of an app it has or no longer has. The train leave
// of an app named "on" was refused as "on" written twice, quoted or not.
func TestSuggestedCommandsOfKeywordApps(t *testing.T) {
	// App names are lowercase; builds may be any case, but are never
	// named as a train or env, which train board refuses.
	apps := []string{"on", "to", "for", "from", "now", "deploys", "train", "board", "leave", "cancel", "depart", "list", "daily"}
	builds := []string{"7", "on", "ON", "to", "To", "for", "from", "now", "deploys", "train", "board", "leave"}
	h := newHarness(t, at(2026, 6, 1, 14, 5), func(cfg *config.Config) {
		for _, w := range apps {
			cfg.Apps[w] = &config.App{Name: w, Envs: map[string]*config.Env{"production": {Name: "production"}}}
		}
	})
	parse := func(t *testing.T, cmd string) commands.Command {
		t.Helper()
		var got []string
		suggest.Rewrite(cmd, func(c string) string {
			got = append(got, c)
			return c
		})
		if len(got) != 1 {
			t.Fatalf("commands marked in %q: %q, want one", cmd, got)
		}
		res := commands.Parse(got[0], commands.CatalogOf(h.cfg), commands.Options{})
		if res.Kind != commands.Run {
			t.Fatalf("%q does not parse: %s", got[0], res.Reply)
		}
		return res.Cmd
	}
	for _, app := range apps {
		for _, build := range builds {
			t.Run("board "+app+" "+build, func(t *testing.T) {
				cmd := boardCommand(Car{App: app, Build: build, Env: "production", User: "bob"}, "daily")
				c := parse(t, cmd)
				if c.TrainAction != commands.TrainBoard || c.App != app || c.Build != build || c.Train != "daily" {
					t.Errorf("%q parses as app %q build %q train %q, want %q %q daily", cmd, c.App, c.Build, c.Train, app, build)
				}
			})
		}
	}
	tests := []struct {
		name, train string
		gone        bool // the app is not in the config
	}{
		{name: "on a train of the config", train: "daily"},
		{name: "on a train no longer in the config", train: "nightly"},
		{name: "of an app no longer in the config", train: "daily", gone: true},
		{name: "of an app no longer in the config, on a train no longer in it", train: "nightly", gone: true},
	}
	for _, tc := range tests {
		for _, app := range apps {
			t.Run("leave "+app+" "+tc.name, func(t *testing.T) {
				if tc.gone {
					saved := h.cfg.Apps[app]
					delete(h.cfg.Apps, app)
					t.Cleanup(func() { h.cfg.Apps[app] = saved })
				}
				cmd := h.s.leaveCommands(tc.train, []Car{{App: app, Build: "7", Env: "production", User: "bob"}})
				c := parse(t, cmd)
				if c.TrainAction != commands.TrainLeave || c.App != app || c.Train != tc.train {
					t.Errorf("%q parses as app %q train %q, want %q %q", cmd, c.App, c.Train, app, tc.train)
				}
			})
		}
	}
}
