package train

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

func TestDepart(t *testing.T) {
	three := [][3]string{{"alice", "accounting", "1338"}, {"bob", "billing", "77"}, {"carl", "search", "5"}}
	allReqs := []string{
		"alice@#deploys via train: deploy accounting 1338 to production",
		"bob@#deploys via train: deploy billing 77 to production",
		"carl@#deploys via train: deploy search 5 to production",
	}
	tests := []struct {
		name        string
		edit        func(*config.Config)
		setup       func(h *harness)
		cars        [][3]string // user, app, build in boarding order
		wantReqs    []string
		wantLevel   chat.Level
		wantSummary string
		wantAboard  []string
		// wantHeld are the audit entries of the cars held back.
		wantHeld []string
	}{
		{
			name: "ships in boarding order",
			cars: three, wantReqs: allReqs, wantLevel: chat.Success,
			wantSummary: `🚂 The 14:00 train to production has left: 3 shipped
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ billing 77 (@bob): deploy d2 succeeded
  ✅ search 5 (@carl): deploy d3 succeeded`,
		},
		{
			name:  "outcomes that arrive after Handle returns",
			setup: func(h *harness) { h.runner.async = true },
			cars:  three, wantReqs: allReqs, wantLevel: chat.Success,
			wantSummary: `🚂 The 14:00 train to production has left: 3 shipped
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ billing 77 (@bob): deploy d2 succeeded
  ✅ search 5 (@carl): deploy d3 succeeded`,
		},
		{
			name:  "a reverted car leaves the train while the others ship",
			setup: func(h *harness) { h.runner.outcome["billing"] = string(deploy.OutcomeReverted) },
			cars:  three, wantReqs: allReqs, wantLevel: chat.Failure,
			wantSummary: `🚂 The 14:00 train to production has left: 2 shipped, 1 failed
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d3 succeeded
  ❌ billing 77 (@bob): deploy d2 reverted: web-2: health check failed; it leaves the train`,
		},
		{
			// Its record says reverted, but nothing went back: as its
			// own report, the summary says it failed.
			name:  "a failed first release is said to have failed",
			setup: func(h *harness) { h.runner.outcome["billing"] = string(deploy.OutcomeReverted) + " first" },
			cars:  three, wantReqs: allReqs, wantLevel: chat.Failure,
			wantSummary: `🚂 The 14:00 train to production has left: 2 shipped, 1 failed
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d3 succeeded
  ❌ billing 77 (@bob): deploy d2 failed: web-2: health check failed; it leaves the train`,
		},
		{
			name:  "stop on failure moves the rest to the next train",
			edit:  func(c *config.Config) { c.Trains["daily"].StopOnFailure = true },
			setup: func(h *harness) { h.runner.outcome["billing"] = string(deploy.OutcomeFailed) },
			cars:  three, wantReqs: allReqs[:2], wantLevel: chat.Failure,
			wantSummary: `🚂 The 14:00 train to production has left: 1 shipped, 1 failed, 1 moves to the next train
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ❌ billing 77 (@bob): deploy d2 failed: web-2: health check failed; it leaves the train
  ⏭ search 5 (@carl) moves to the next train: the train stopped after billing 77 failed (stop_on_failure)
  Next departure: Wed 3 Jun 14:00 CEST.`,
			wantAboard: []string{"search 5"},
		},
		{
			name: "a locked app is postponed",
			setup: func(h *harness) {
				h.gate.lock("billing", "billing/production is locked by @ana since 13:02: db maintenance")
			},
			cars: three, wantReqs: []string{allReqs[0], allReqs[2]}, wantLevel: chat.Warning,
			wantSummary: `🚂 The 14:00 train to production has left: 2 shipped, 1 moves to the next train
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d2 succeeded
  ⏭ billing 77 (@bob) moves to the next train: billing/production is locked by @ana since 13:02: db maintenance
  Next departure: Wed 3 Jun 14:00 CEST.`,
			wantAboard: []string{"billing 77"},
			wantHeld:   []string{"bob refused: deploy billing 77 to production: held back for the next train: billing/production is locked by @ana since 13:02: db maintenance"},
		},
		{
			name: "every app locked: one message for the train",
			setup: func(h *harness) {
				h.gate.lock("accounting", "all deploys are locked by @ana: incident")
				h.gate.lock("billing", "all deploys are locked by @ana: incident")
			},
			cars: three[:2], wantLevel: chat.Warning,
			wantSummary: `🚂 The 14:00 train to production is postponed: all deploys are locked by @ana: incident
  accounting 1338 (@alice), billing 77 (@bob) move to the next train, Wed 3 Jun 14:00 CEST.`,
			wantAboard: []string{"accounting 1338", "billing 77"},
			wantHeld: []string{
				"alice refused: deploy accounting 1338 to production: held back for the next train: all deploys are locked by @ana: incident",
				"bob refused: deploy billing 77 to production: held back for the next train: all deploys are locked by @ana: incident",
			},
		},
		{
			// Nothing left: the train is postponed, whatever held each
			// car back. It used to say it "has left".
			name: "every app held back, each for its own reason",
			setup: func(h *harness) {
				h.gate.lock("accounting", "accounting/production is locked by @ana: db move")
				h.gate.lock("billing", "billing/production is locked by @dan: reindexing")
			},
			cars: three[:2], wantLevel: chat.Warning,
			wantSummary: `🚂 The 14:00 train to production is postponed: 2 move to the next train
  ⏭ accounting 1338 (@alice) moves to the next train: accounting/production is locked by @ana: db move
  ⏭ billing 77 (@bob) moves to the next train: billing/production is locked by @dan: reindexing
  Next departure: Wed 3 Jun 14:00 CEST.`,
			wantAboard: []string{"accounting 1338", "billing 77"},
			wantHeld: []string{
				"alice refused: deploy accounting 1338 to production: held back for the next train: accounting/production is locked by @ana: db move",
				"bob refused: deploy billing 77 to production: held back for the next train: billing/production is locked by @dan: reindexing",
			},
		},
		{
			name:  "a refused car fails",
			setup: func(h *harness) { h.runner.outcome["search"] = "refuse: you may not deploy search to production" },
			cars:  three, wantReqs: allReqs, wantLevel: chat.Failure,
			wantSummary: `🚂 The 14:00 train to production has left: 2 shipped, 1 failed
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ billing 77 (@bob): deploy d2 succeeded
  ❌ search 5 (@carl): refused: you may not deploy search to production; it leaves the train`,
		},
		{
			name: "a car live already has arrived",
			edit: func(c *config.Config) { c.Trains["daily"].StopOnFailure = true },
			setup: func(h *harness) {
				h.runner.outcome["billing"] = "refuse no_change: billing/production already runs build 77"
			},
			cars: three, wantReqs: allReqs, wantLevel: chat.Success,
			wantSummary: `🚂 The 14:00 train to production has left: 3 shipped
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ billing 77 (@bob): live already, nothing to deploy
  ✅ search 5 (@carl): deploy d3 succeeded`,
		},
		{
			name: "a busy app, or one the store cannot reach, waits for the next train",
			edit: func(c *config.Config) { c.Trains["daily"].StopOnFailure = true },
			setup: func(h *harness) {
				h.runner.outcome["accounting"] = "refuse unavailable: cannot check build 1338 of accounting"
				h.runner.outcome["billing"] = "refuse conflict: billing/production is busy: rollback of build 76 by ana since 13:59:58 (deploy d0)"
			},
			cars: three, wantReqs: allReqs, wantLevel: chat.Warning,
			wantSummary: `🚂 The 14:00 train to production has left: 1 shipped, 2 move to the next train
  ✅ search 5 (@carl): deploy d3 succeeded
  ⏭ accounting 1338 (@alice) moves to the next train: cannot check build 1338 of accounting
  ⏭ billing 77 (@bob) moves to the next train: billing/production is busy: rollback of build 76 by ana since 13:59:58 (deploy d0)
  Next departure: Wed 3 Jun 14:00 CEST.`,
			wantAboard: []string{"accounting 1338", "billing 77"},
		},
		{
			// Named, so that people know which to board again, and not
			// said to move to the next train, as they used to be, above
			// the line that says they are off it.
			name: "cars that cannot be put back aboard are named",
			setup: func(h *harness) {
				h.runner.outcome["accounting"] = "refuse unavailable: cannot check build 1338 of accounting"
				h.runner.outcome["billing"] = "refuse conflict: billing/production is busy: rollback of build 76 by ana since 13:59:58 (deploy d0)"
				h.store.failReturn = errors.New("store down")
			},
			cars: three, wantReqs: allReqs, wantLevel: chat.Failure,
			wantSummary: `🚂 The 14:00 train to production has left: 1 shipped, 2 could not be put back aboard
  ✅ search 5 (@carl): deploy d3 succeeded
  ⚠ 2 cars could not be put back aboard: state store unreachable. They are off the train until boarded again: accounting 1338 (@alice), billing 77 (@bob). To board again, each by whoever boarded it: @alice ` + suggest.Command("train board accounting 1338 on daily") + `, @bob ` + suggest.Command("train board billing 77 on daily") + ` (a car boards as whoever sends the command).`,
		},
		{
			// accounting, held back where it was, stayed aboard and
			// moves to the next train; billing, taken off, is off it.
			name: "a car that stayed aboard moves to the next train, one not put back does not",
			setup: func(h *harness) {
				h.gate.lock("accounting", "accounting/production is locked by @ana since 13:02: db maintenance")
				h.runner.outcome["billing"] = "refuse conflict: billing/production is busy: rollback of build 76 by ana since 13:59:58 (deploy d0)"
				h.store.failReturn = errors.New("store down")
			},
			cars: three, wantReqs: allReqs[1:], wantLevel: chat.Failure,
			wantSummary: `🚂 The 14:00 train to production has left: 1 shipped, 1 moves to the next train, 1 could not be put back aboard
  ✅ search 5 (@carl): deploy d2 succeeded
  ⏭ accounting 1338 (@alice) moves to the next train: accounting/production is locked by @ana since 13:02: db maintenance
  Next departure: Wed 3 Jun 14:00 CEST.
  ⚠ 1 car could not be put back aboard: state store unreachable. It is off the train until boarded again: billing 77 (@bob). To board it again, @bob sends ` + suggest.Command("train board billing 77 on daily") + ` (a car boards as whoever sends the command).`,
			wantAboard: []string{"accounting 1338"},
			wantHeld:   []string{"alice refused: deploy accounting 1338 to production: held back for the next train: accounting/production is locked by @ana since 13:02: db maintenance"},
		},
		{
			// Nothing shipped and nothing waits: the train did not
			// leave, and is not postponed.
			name: "no car put back aboard, none shipped",
			setup: func(h *harness) {
				h.runner.outcome["accounting"] = "refuse unavailable: cannot check build 1338 of accounting"
				h.runner.outcome["billing"] = "refuse conflict: billing/production is busy: rollback of build 76 by ana since 13:59:58 (deploy d0)"
				h.store.failReturn = errors.New("store down")
			},
			cars: three[:2], wantReqs: allReqs[:2], wantLevel: chat.Failure,
			wantSummary: `🚂 The 14:00 train to production did not leave: 2 could not be put back aboard
  ⚠ 2 cars could not be put back aboard: state store unreachable. They are off the train until boarded again: accounting 1338 (@alice), billing 77 (@bob). To board again, each by whoever boarded it: @alice ` + suggest.Command("train board accounting 1338 on daily") + `, @bob ` + suggest.Command("train board billing 77 on daily") + ` (a car boards as whoever sends the command).`,
		},
		{
			// Taking accounting off failed and left it aboard: found
			// there once putting it back failed too, it moves to the
			// next train with the others, and is not said to be off.
			name: "a car found aboard once putting it back failed",
			setup: func(h *harness) {
				h.store.failLeave = errors.New("store down")
				h.store.failReturn = errors.New("store down")
			},
			cars: three, wantLevel: chat.Warning,
			wantSummary: `🚂 The 14:00 train to production is postponed: state store unreachable
  accounting 1338 (@alice), billing 77 (@bob), search 5 (@carl) move to the next train, Wed 3 Jun 14:00 CEST.`,
			wantAboard: []string{"accounting 1338", "billing 77", "search 5"},
		},
		{
			// The store fails billing's taking off, then accounting's
			// putting back: one failure, said in the same words.
			name: "a car not put back aboard, the store failing before",
			setup: func(h *harness) {
				h.runner.outcome["accounting"] = "refuse unavailable: cannot check build 1338 of accounting"
				h.runner.onDeploy = func(app string) {
					h.store.mu.Lock()
					h.store.failLeave = errors.New("store down")
					h.store.mu.Unlock()
				}
				h.store.failReturn = errors.New("store down")
			},
			cars: three, wantReqs: allReqs[:1], wantLevel: chat.Failure,
			wantSummary: `🚂 The 14:00 train to production is postponed: state store unreachable
  billing 77 (@bob), search 5 (@carl) move to the next train, Wed 3 Jun 14:00 CEST.
  ⚠ 1 car could not be put back aboard: state store unreachable. It is off the train until boarded again: accounting 1338 (@alice). To board it again, @alice sends ` + suggest.Command("train board accounting 1338 on daily") + ` (a car boards as whoever sends the command).`,
			wantAboard: []string{"billing 77", "search 5"},
		},
		{
			// billing 78, boarded as accounting shipped, is taken off
			// at billing's turn: not put back, it does not wait for the
			// next train.
			name: "a car boarded in place of another and not put back aboard",
			setup: func(h *harness) {
				h.runner.onDeploy = func(app string) {
					if app == "accounting" {
						h.board("bob", "billing", "78")
					}
				}
				h.store.failReturn = errors.New("store down")
			},
			cars: three, wantReqs: []string{allReqs[0], allReqs[2]}, wantLevel: chat.Failure,
			wantSummary: `🚂 The 14:00 train to production has left: 2 shipped, 1 replaced by a newer boarding
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d2 succeeded
  ↩ billing 77 (@bob) did not ship: billing 78 (@bob) boarded in its place
  ⚠ 1 car could not be put back aboard: state store unreachable. It is off the train until boarded again: billing 78 (@bob). To board it again, @bob sends ` + suggest.Command("train board billing 78 on daily") + ` (a car boards as whoever sends the command).`,
		},
		{
			// billing is taken off to ship and put back: it keeps its
			// place behind accounting, held back where it was.
			name: "cars held back keep their boarding order",
			setup: func(h *harness) {
				h.gate.lock("accounting", "accounting/production is locked by @ana since 13:02: db maintenance")
				h.runner.outcome["billing"] = "refuse conflict: billing/production is busy: rollback of build 76 by ana since 13:59:58 (deploy d0)"
			},
			cars: three, wantReqs: allReqs[1:], wantLevel: chat.Warning,
			wantSummary: `🚂 The 14:00 train to production has left: 1 shipped, 2 move to the next train
  ✅ search 5 (@carl): deploy d2 succeeded
  ⏭ accounting 1338 (@alice) moves to the next train: accounting/production is locked by @ana since 13:02: db maintenance
  ⏭ billing 77 (@bob) moves to the next train: billing/production is busy: rollback of build 76 by ana since 13:59:58 (deploy d0)
  Next departure: Wed 3 Jun 14:00 CEST.`,
			wantAboard: []string{"accounting 1338", "billing 77"},
			wantHeld:   []string{"alice refused: deploy accounting 1338 to production: held back for the next train: accounting/production is locked by @ana since 13:02: db maintenance"},
		},
		{
			name: "a car boarded for the env the train went to before fails",
			setup: func(h *harness) {
				h.cfg.Trains["daily"].Env = "staging"
				h.restart()
			},
			cars: three[:1], wantLevel: chat.Failure,
			wantSummary: `🚂 The 14:00 train to staging has left: 1 failed
  ❌ accounting 1338 (@alice): it boarded for production, and the train goes to staging now; board it again: ` + suggest.Command("train board accounting 1338 on daily") + `; it leaves the train`,
		},
		{
			// Its own env's lock says nothing of it: it can never ship
			// with this train, and is not held back day after day.
			name: "a car boarded for the env the train went to before fails, locked there or not",
			setup: func(h *harness) {
				h.cfg.Trains["daily"].Env = "staging"
				h.restart()
				h.gate.lock("accounting", "accounting/production is locked by @ana since 13:02: db maintenance")
			},
			cars: three[:1], wantLevel: chat.Failure,
			wantSummary: `🚂 The 14:00 train to staging has left: 1 failed
  ❌ accounting 1338 (@alice): it boarded for production, and the train goes to staging now; board it again: ` + suggest.Command("train board accounting 1338 on daily") + `; it leaves the train`,
		},
		{
			name: "no outcome in time",
			setup: func(h *harness) {
				h.runner.outcome["billing"] = "hang"
				h.deployTimeout = 20 * time.Millisecond
				h.restart()
			},
			cars: three, wantReqs: allReqs, wantLevel: chat.Warning,
			wantSummary: `🚂 The 14:00 train to production has left: 2 shipped, 1 still running
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d3 succeeded
  ⏳ billing 77 (@bob): no outcome after 20ms (deploy_timeout); deploy d2 may still be running (` + suggest.Command("status") + ` shows it); it left the train`,
		},
		{
			// A deploy with no outcome yet has not failed: it does not
			// stop the train.
			name: "no outcome in time, stop_on_failure",
			edit: func(c *config.Config) { c.Trains["daily"].StopOnFailure = true },
			setup: func(h *harness) {
				h.runner.outcome["billing"] = "hang"
				h.deployTimeout = 20 * time.Millisecond
				h.restart()
			},
			cars: three, wantReqs: allReqs, wantLevel: chat.Warning,
			wantSummary: `🚂 The 14:00 train to production has left: 2 shipped, 1 still running
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d3 succeeded
  ⏳ billing 77 (@bob): no outcome after 20ms (deploy_timeout); deploy d2 may still be running (` + suggest.Command("status") + ` shows it); it left the train`,
		},
		{
			name:        "empty train",
			wantLevel:   chat.Info,
			wantSummary: "🚂 The 14:00 train to production left empty: nobody was aboard.",
		},
		{
			name: "empty train, silent",
			edit: func(c *config.Config) { c.Trains["daily"].Empty = "silent" },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 11, 0), tc.edit)
			for _, c := range tc.cars {
				h.board(c[0], c[1], c[2])
			}
			if tc.setup != nil {
				tc.setup(h)
			}
			h.clock.Set(at(2026, 6, 2, 14, 0))
			sum := h.s.Depart(t.Context(), "daily", "")
			if sum.Err != nil {
				t.Fatalf("Depart: %v", sum.Err)
			}
			if got := h.runner.texts(); !slices.Equal(got, tc.wantReqs) {
				t.Errorf("deploys:\ngot  %q\nwant %q", got, tc.wantReqs)
			}
			if got := render(sum.Message); got != tc.wantSummary {
				t.Errorf("summary:\ngot  %s\nwant %s", got, tc.wantSummary)
			}
			if sum.Message.Level != tc.wantLevel {
				t.Errorf("summary level: got %q, want %q", sum.Message.Level, tc.wantLevel)
			}
			if tc.wantSummary == "" {
				if n := h.notes.count(); n != 0 {
					t.Errorf("posts: got %q, want none", h.notes.titles("#deploys"))
				}
			} else if got := h.notes.find("#deploys", strings.SplitN(tc.wantSummary, "\n", 2)[0]); len(got) != 1 {
				t.Errorf("summary posted %d times, want once", len(got))
			}
			if got := h.aboard("daily"); !slices.Equal(got, tc.wantAboard) {
				t.Errorf("aboard after the departure: got %q, want %q", got, tc.wantAboard)
			}
			audited := h.store.audited()
			var held []string
			for _, e := range audited {
				if strings.Contains(strings.SplitN(e, ":", 2)[0], " refused") {
					held = append(held, e)
				}
			}
			if !slices.Equal(held, tc.wantHeld) {
				t.Errorf("audit entries of held-back cars:\ngot  %q\nwant %q", held, tc.wantHeld)
			}
			what := sum.Message.Title
			if len(tc.cars) == 0 {
				what = "left empty"
			}
			if want := "switchman event: train daily departure Tue 2 Jun 14:00 CEST: " + what; len(audited) == 0 || !strings.HasPrefix(audited[len(audited)-1], want) {
				t.Errorf("audit entries %q: want the last to start %q", audited, want)
			}
		})
	}
}

// TestDepartLostCarsUnreadable: once putting back a car taken off for
// its turn failed, and the cars cannot be read to see whether it is
// aboard, it is said to be off the train, to be boarded again, and not
// to move to the next one.
func TestDepartLostCarsUnreadable(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	h.runner.outcome["accounting"] = "refuse unavailable: cannot check build 1338 of accounting"
	h.runner.onDeploy = func(app string) {
		if app == "billing" {
			h.store.mu.Lock()
			h.store.failCars = errors.New("store down")
			h.store.mu.Unlock()
		}
	}
	h.store.failReturn = errors.New("store down")
	h.clock.Set(at(2026, 6, 2, 14, 0))
	sum := h.s.Depart(t.Context(), "daily", "")

	want := `🚂 The 14:00 train to production has left: 1 shipped, 1 could not be put back aboard
  ✅ billing 77 (@bob): deploy d2 succeeded
  ⚠ 1 car could not be put back aboard: state store unreachable. It is off the train until boarded again: accounting 1338 (@alice). To board it again, @alice sends ` + suggest.Command("train board accounting 1338 on daily") + ` (a car boards as whoever sends the command).`
	if got := render(sum.Message); got != want {
		t.Errorf("summary:\ngot  %s\nwant %s", got, want)
	}
	if len(sum.Lost) != 1 || sum.Lost[0].Car.App != "accounting" || len(sum.Postponed) != 0 {
		t.Errorf("lost %+v, postponed %+v; want accounting lost, none postponed", sum.Lost, sum.Postponed)
	}
}

// TestDepartCarMessages: each car's reply and final message are posted,
// in order, between the departure's announcements.
func TestDepartCarMessages(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	h.runner.outcome["billing"] = "refuse: billing/production is locked by @ana since 13:59: hotfix"
	h.clock.Set(at(2026, 6, 2, 14, 0))
	h.s.Depart(t.Context(), "daily", "")
	want := []string{
		"🚂 The 14:00 train to production is leaving with 2 cars: accounting 1338 (@alice), billing 77 (@bob).",
		"Deploying accounting 1338 to production (deploy d1)",
		"Deploy d1: accounting/production now runs 1338 (1m0s)",
		"billing/production is locked by @ana since 13:59: hotfix",
		"🚂 The 14:00 train to production has left: 1 shipped, 1 failed",
	}
	if got := h.notes.titles("#deploys"); !slices.Equal(got, want) {
		t.Errorf("posts:\ngot  %q\nwant %q", got, want)
	}
	for _, p := range h.notes.posts {
		if !p.msg.Public {
			t.Errorf("post %q is not public", p.msg.Title)
		}
	}
}

func TestDepartStoreDown(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.store.setFail(errors.New("disk on fire"))
	h.clock.Set(at(2026, 6, 2, 14, 0))
	sum := h.s.Depart(t.Context(), "daily", "")
	if sum.Err == nil {
		t.Fatal("Depart with the store down: got no error")
	}
	want := "The 14:00 train to production could not leave: state store unreachable. The cars stay aboard."
	if got := h.notes.titles("#deploys"); !slices.Equal(got, []string{want}) {
		t.Errorf("posts: got %q, want %q", got, want)
	}
	h.store.setFail(nil)
	if got := h.aboard("daily"); !slices.Equal(got, []string{"accounting 1338"}) {
		t.Errorf("aboard: got %q", got)
	}
}

func TestDepartUnknownTrain(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	if sum := h.s.Depart(t.Context(), "nightly", ""); errText(sum.Err) != `not_found: there is no train "nightly"; trains: daily` {
		t.Errorf("Depart of an unknown train: got %s", errText(sum.Err))
	}
}

// TestRunMarksBeforeDeparting: when the store cannot record the run, the
// departure does not happen (it could happen twice otherwise).
func TestRunMarksBeforeDeparting(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 13, 50), nil)
	h.board("alice", "accounting", "1338")
	h.store.setFail(errors.New("connection refused"))
	h.run(at(2026, 6, 2, 14, 30))
	h.store.setFail(nil)
	if got := h.runner.texts(); len(got) != 0 {
		t.Errorf("deploys: got %q, want none", got)
	}
	want := "The 14:00 train to production did not leave: state store unreachable. The cars stay aboard."
	if got := h.notes.titles("#deploys"); !slices.Equal(got, []string{want}) {
		t.Errorf("posts: got %q, want %q", got, want)
	}
}

// TestUnrecordedDepartureKeepsItsWord: a departure announced as not
// leaving (the store could not record it) is recorded once the store is
// back, and neither leaves late nor is reported missed for another reason.
func TestUnrecordedDepartureKeepsItsWord(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 13, 50), nil)
	for _, kind := range []string{KindDeparture, KindEnded} {
		if err := h.store.MarkRun(t.Context(), "daily", kind, at(2026, 6, 1, 14, 0)); err != nil {
			t.Fatal(err)
		}
	}
	h.board("alice", "accounting", "1338")
	h.store.setFail(errors.New("connection refused"))
	looks := 0
	h.onSleep = func() {
		if looks++; looks == 2 { // after the 14:00 look
			h.store.setFail(nil)
		}
	}
	h.run(at(2026, 6, 3, 10, 30))
	if got := h.runner.texts(); len(got) != 0 {
		t.Errorf("deploys: got %q, want none", got)
	}
	posts := h.notes.titles("#deploys")
	want := "The 14:00 train to production did not leave: state store unreachable. The cars stay aboard."
	if len(posts) == 0 || posts[0] != want || slices.ContainsFunc(posts[1:], func(p string) bool { return strings.Contains(p, "did not leave") }) {
		t.Errorf("posts: got %q, want %q and no other account of the 14:00 train", posts, want)
	}
	if got := h.aboard("daily"); !slices.Equal(got, []string{"accounting 1338"}) {
		t.Errorf("aboard: got %q, want the car still aboard", got)
	}
	// It ended as announced: a restart has nothing to say of it.
	h.run(at(2026, 6, 3, 10, 31))
	if got := h.notes.titles("#deploys"); len(got) != len(posts) {
		t.Errorf("posts after a restart: got %q, want none more", got[len(posts):])
	}
}

// TestUnreadCancellationStaysPut: when whether the departure was cancelled
// cannot be read, the train does not leave (an admin may have called it
// off) and says so.
func TestUnreadCancellationStaysPut(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 13, 50), nil)
	h.board("alice", "accounting", "1338")
	h.store.setFailLastRun(KindCancel, errors.New("i/o timeout"))
	h.run(at(2026, 6, 2, 14, 30))
	h.store.setFailLastRun(KindCancel, nil)
	if got := h.runner.texts(); len(got) != 0 {
		t.Errorf("deploys: got %q, want none", got)
	}
	want := "The 14:00 train to production did not leave: whether it was cancelled could not be read (state store unreachable). The cars stay aboard."
	if got := h.notes.titles("#deploys"); !slices.Equal(got, []string{want}) {
		t.Errorf("posts: got %q, want %q", got, want)
	}
}

// TestDepartureSaysTheStoreReason: a departure the store keeps from
// leaving, or from taking a car off, says why in the store's own words: a
// Redis at maxmemory answers, and "the state store is unreachable" sent
// people looking for a network fault. The full stop Redis ends its answer
// with is not doubled.
func TestDepartureSaysTheStoreReason(t *testing.T) {
	refused := &errs.Error{Code: errs.Unavailable,
		Msg: "state store redis at 127.0.0.1:6379 refuses writes: OOM command not allowed when used memory > 'maxmemory'."}
	const why = "state store redis at 127.0.0.1:6379 refuses writes: OOM command not allowed when used memory > 'maxmemory'"
	tests := []struct {
		name string
		// leave runs the departure at 14:00 with the store failing, and
		// returns what the train's channel was told of it last.
		leave func(h *harness) string
		want  string
	}{
		{"cars unread", func(h *harness) string {
			h.store.setFail(refused)
			h.clock.Set(at(2026, 6, 2, 14, 0))
			h.s.Depart(t.Context(), "daily", "")
			h.store.setFail(nil)
			return last(h.notes.titles("#deploys"))
		}, "The 14:00 train to production could not leave: " + why + ". The cars stay aboard."},
		{"run unrecorded", func(h *harness) string {
			h.store.setFail(refused)
			h.run(at(2026, 6, 2, 14, 30))
			h.store.setFail(nil)
			return last(h.notes.titles("#deploys"))
		}, "The 14:00 train to production did not leave: " + why + ". The cars stay aboard."},
		{"replicas unread", func(h *harness) string {
			h.once, h.store.failOnce = h.store, refused
			h.run(at(2026, 6, 2, 14, 30))
			return last(h.notes.titles("#deploys"))
		}, "The 14:00 train to production may not leave: whether another replica of the bot runs it could not be read (" + why + "). If one does, it says so here; if not, the cars stay aboard."},
		{"cancellation unread", func(h *harness) string {
			h.store.setFailLastRun(KindCancel, refused)
			h.run(at(2026, 6, 2, 14, 30))
			h.store.setFailLastRun(KindCancel, nil)
			return last(h.notes.titles("#deploys"))
		}, "The 14:00 train to production did not leave: whether it was cancelled could not be read (" + why + "). The cars stay aboard."},
		{"car not taken off", func(h *harness) string {
			h.store.failLeave = refused
			h.clock.Set(at(2026, 6, 2, 14, 0))
			h.s.Depart(t.Context(), "daily", "")
			h.store.failLeave = nil
			return last(h.notes.titles("#deploys"))
		}, "🚂 The 14:00 train to production is postponed: " + why},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 13, 50), nil)
			h.board("alice", "accounting", "1338")
			if got := tt.leave(h); !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if got := h.runner.texts(); len(got) != 0 {
				t.Errorf("deploys: got %q, want none", got)
			}
			if got := h.aboard("daily"); !slices.Equal(got, []string{"accounting 1338"}) {
				t.Errorf("aboard: got %q, want the car still aboard", got)
			}
		})
	}
}

// last is the last of posts, or "" when there are none.
func last(posts []string) string {
	if len(posts) == 0 {
		return ""
	}
	return posts[len(posts)-1]
}

// TestDepartShutdown: when the bot stops during a departure, the deploy in
// progress, which the engine lets finish, is waited for and reported as it
// ends, its final message posted; the cars not started go back.
func TestDepartShutdown(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	h.runner.outcome["accounting"] = "at stop"
	h.clock.Set(at(2026, 6, 2, 14, 0))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan Summary)
	go func() { done <- h.s.Depart(ctx, "daily", "") }()
	deadline := time.Now().Add(10 * time.Second)
	for len(h.runner.texts()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the departure did not start accounting's deploy")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	sum := <-done
	want := `🚂 The 14:00 train to production has left: 1 shipped, 1 moves to the next train
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ⏭ billing 77 (@bob) moves to the next train: the bot is shutting down
  Next departure: Wed 3 Jun 14:00 CEST.`
	if got := render(sum.Message); got != want {
		t.Errorf("summary:\ngot  %s\nwant %s", got, want)
	}
	if got := h.aboard("daily"); !slices.Equal(got, []string{"billing 77"}) {
		t.Errorf("aboard: got %q, want billing", got)
	}
	if got := h.notes.titles("#deploys"); !slices.ContainsFunc(got, func(s string) bool { return s == "Deploy d1: accounting/production now runs 1338 (1m0s)" }) {
		t.Errorf("posts: %q; want deploy d1's final message", got)
	}
}

// TestDepartTakesCarsInTurn: a departing train's cars stay aboard until
// their turn, so a bot that dies during the departure leaves the cars it
// had not reached for the next train, and only the car being shipped is
// off it. A car taken off meanwhile (train leave) does not ship, and one
// boarded again with another build stays for the next train; the car it
// replaced is counted as replaced by a newer boarding, not as taken off
// before its turn, which nobody did.
func TestDepartTakesCarsInTurn(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	h.board("carl", "search", "5")
	var during []string
	h.runner.onDeploy = func(app string) {
		if app != "accounting" {
			return
		}
		during = h.aboard("daily")
		if _, err := h.store.Leave(t.Context(), "daily", "search", "", time.Time{}); err != nil {
			t.Errorf("search leaves: %v", err)
		}
		h.board("bob", "billing", "78")
	}
	h.clock.Set(at(2026, 6, 2, 14, 0))
	sum := h.s.Depart(t.Context(), "daily", "")

	if want := []string{"billing 77", "search 5"}; !slices.Equal(during, want) {
		t.Errorf("aboard while accounting shipped: got %q, want %q", during, want)
	}
	want := `🚂 The 14:00 train to production has left: 1 shipped, 1 replaced by a newer boarding, 1 taken off before its turn
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ↩ billing 77 (@bob) did not ship: billing 78 (@bob) boarded in its place; that car waits for the next train
  ↩ search 5 (@carl) did not ship: it was taken off the train before its turn`
	if got := render(sum.Message); got != want {
		t.Errorf("summary:\ngot  %s\nwant %s", got, want)
	}
	if got := h.runner.texts(); len(got) != 1 {
		t.Errorf("deploys: got %q, want accounting's only", got)
	}
	if got := h.aboard("daily"); !slices.Equal(got, []string{"billing 78"}) {
		t.Errorf("aboard after: got %q, want billing 78", got)
	}
}

// TestDepartEveryCarTakenOff: a departure whose every car is taken off
// (train leave) after it was announced, before its turn, ships nothing:
// the summary says the train did not leave, not that it has left.
func TestDepartEveryCarTakenOff(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	h.notes.onPost = func(m chat.Message) {
		if !strings.Contains(m.Title, "is leaving") {
			return
		}
		for _, app := range []string{"accounting", "billing"} {
			if _, err := h.store.Leave(t.Context(), "daily", app, "", time.Time{}); err != nil {
				t.Errorf("%s leaves: %v", app, err)
			}
		}
	}
	h.clock.Set(at(2026, 6, 2, 14, 0))
	sum := h.s.Depart(t.Context(), "daily", "")

	want := `🚂 The 14:00 train to production did not leave: 2 taken off before their turn
  ↩ accounting 1338 (@alice) did not ship: it was taken off the train before its turn
  ↩ billing 77 (@bob) did not ship: it was taken off the train before its turn`
	if got := render(sum.Message); got != want {
		t.Errorf("summary:\ngot  %s\nwant %s", got, want)
	}
	if sum.Message.Level != chat.Info {
		t.Errorf("summary level: got %q, want %q", sum.Message.Level, chat.Info)
	}
	if got := h.runner.texts(); len(got) != 0 {
		t.Errorf("deploys: got %q, want none", got)
	}
}

// TestDepartEveryCarReplaced: a departure whose every car was boarded
// again with another build after it was announced ships nothing as
// boarded, and the newer builds wait for the next train: the summary says
// the train did not leave, as a warning, as the other departures that did
// not leave say it. It was said at the info level of a train whose cars
// were all taken off, as if nothing waited.
func TestDepartEveryCarReplaced(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	h.notes.onPost = func(m chat.Message) {
		if !strings.Contains(m.Title, "is leaving") {
			return
		}
		h.board("alice", "accounting", "1337")
		h.board("bob", "billing", "78")
	}
	h.clock.Set(at(2026, 6, 2, 14, 0))
	sum := h.s.Depart(t.Context(), "daily", "")

	want := `🚂 The 14:00 train to production did not leave: 2 replaced by a newer boarding
  ↩ accounting 1338 (@alice) did not ship: accounting 1337 (@alice) boarded in its place; that car waits for the next train
  ↩ billing 77 (@bob) did not ship: billing 78 (@bob) boarded in its place; that car waits for the next train`
	if got := render(sum.Message); got != want {
		t.Errorf("summary:\ngot  %s\nwant %s", got, want)
	}
	if sum.Message.Level != chat.Warning {
		t.Errorf("summary level: got %q, want %q", sum.Message.Level, chat.Warning)
	}
	if got := h.runner.texts(); len(got) != 0 {
		t.Errorf("deploys: got %q, want none", got)
	}
	if got := h.aboard("daily"); !slices.Equal(got, []string{"accounting 1337", "billing 78"}) {
		t.Errorf("aboard after: got %q, want accounting 1337 and billing 78", got)
	}
}

// TestDepartRereadsHeldCars: a car held back as the departure starts
// that is taken off (train leave) or boarded again with another build
// during the departure does not move to the next train: the summary says
// it did not ship. It used to say that both moved to the next train, the
// car taken off and the build replaced; then it counted the car taken off
// as taken off before its turn, though it was held back, which it now
// says, with why.
func TestDepartRereadsHeldCars(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	h.board("carl", "search", "5")
	h.gate.lock("accounting", "accounting/production is locked: db move")
	h.gate.lock("billing", "billing/production is locked: db move")
	h.runner.onDeploy = func(app string) {
		if app != "search" {
			return
		}
		if _, err := h.store.Leave(t.Context(), "daily", "billing", "", time.Time{}); err != nil {
			t.Errorf("billing leaves: %v", err)
		}
		h.board("alice", "accounting", "1337")
	}
	h.clock.Set(at(2026, 6, 2, 14, 0))
	sum := h.s.Depart(t.Context(), "daily", "")

	want := `🚂 The 14:00 train to production has left: 1 shipped, 1 replaced by a newer boarding, 1 held back, then taken off
  ✅ search 5 (@carl): deploy d1 succeeded
  ↩ accounting 1338 (@alice) did not ship: accounting 1337 (@alice) boarded in its place; that car waits for the next train
  ↩ billing 77 (@bob) did not ship: billing/production is locked: db move; it was taken off the train during the departure`
	if got := render(sum.Message); got != want {
		t.Errorf("summary:\ngot  %s\nwant %s", got, want)
	}
	if got := h.aboard("daily"); !slices.Equal(got, []string{"accounting 1337"}) {
		t.Errorf("aboard after: got %q, want accounting 1337", got)
	}
}

// TestDepartStopWaitsForTheDeployAsLongAsTheDrain: once the bot is told to
// stop, the departure waits for the car under way as long as the bot lets
// deploys finish (StopWait), then reports it as still running, neither
// failed nor shipped, and the cars it has not reached stay aboard.
func TestDepartStopWaitsForTheDeployAsLongAsTheDrain(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	h.runner.outcome["accounting"] = "hang"
	h.stopWait = 10 * time.Millisecond
	h.restart()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	h.runner.onDeploy = func(app string) { stop() }
	h.clock.Set(at(2026, 6, 2, 14, 0))
	sum := h.s.Depart(ctx, "daily", "")

	want := `🚂 The 14:00 train to production has left: 1 still running, 1 moves to the next train
  ⏳ accounting 1338 (@alice): deploy d1 was still running when the bot stopped; ` + suggest.Command("status") + ` shows how it ends; it left the train
  ⏭ billing 77 (@bob) moves to the next train: the bot is shutting down
  Next departure: Wed 3 Jun 14:00 CEST.`
	if got := render(sum.Message); got != want {
		t.Errorf("summary:\ngot  %s\nwant %s", got, want)
	}
	if len(sum.Failed) != 0 {
		t.Errorf("failed: got %+v, want none", sum.Failed)
	}
	if got := h.aboard("daily"); !slices.Equal(got, []string{"billing 77"}) {
		t.Errorf("aboard after: got %q, want billing 77", got)
	}
}

// TestSameCar: a car read back from a store is the car boarded, whatever
// location its time was decoded in.
func TestSameCar(t *testing.T) {
	boarded := time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)
	c := Car{App: "billing", Build: "77", Env: "production", User: "bob", Boarded: boarded}
	other := func(f func(*Car)) Car { d := c; f(&d); return d }
	tests := []struct {
		name string
		b    Car
		want bool
	}{
		{"same", c, true},
		{"same instant, another location", other(func(d *Car) { d.Boarded = boarded.In(time.FixedZone("", 2*3600)) }), true},
		{"another build", other(func(d *Car) { d.Build = "78" }), false},
		{"boarded again later", other(func(d *Car) { d.Boarded = boarded.Add(time.Minute) }), false},
		{"another user", other(func(d *Car) { d.User = "ana" }), false},
	}
	for _, tt := range tests {
		if got := sameCar(c, tt.b); got != tt.want {
			t.Errorf("%s: sameCar %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCarOutcomeAfterTheDepartureStoppedWaiting: a car whose deploy has
// no outcome by deploy_timeout is summarised as still running; when the
// deploy ends, the train's channels get its outcome. It used to end
// unsaid: the summary's "still running" was the train's last word on it.
func TestCarOutcomeAfterTheDepartureStoppedWaiting(t *testing.T) {
	tests := []struct {
		name, outcome string
		want          string
		wantLevel     chat.Level
	}{
		{
			name: "succeeded", outcome: "later",
			want: `🚂 billing 77 (@bob), which left the 14:00 train to production still running: deploy d1 succeeded
  Deploy d1: billing/production now runs 77 (1m0s)`,
			wantLevel: chat.Success,
		},
		{
			name: "failed", outcome: "later failed",
			want: `🚂 billing 77 (@bob), which left the 14:00 train to production still running: deploy d1 failed
  Deploy d1 of billing 77 to production failed after 1m0s
  web-2: health check failed`,
			wantLevel: chat.Failure,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 11, 0), func(c *config.Config) {
				c.Trains["daily"].Channels = []string{"#deploys", "#releases"}
			})
			h.board("bob", "billing", "77")
			h.runner.outcome["billing"] = tc.outcome
			h.runner.finishLater = make(chan struct{})
			h.deployTimeout = 20 * time.Millisecond
			h.restart()
			h.clock.Set(at(2026, 6, 2, 14, 0))
			sum := h.s.Depart(t.Context(), "daily", "")
			if len(sum.Running) != 1 {
				t.Fatalf("running: got %+v, want billing 77", sum.Running)
			}
			close(h.runner.finishLater)
			h.runner.wg.Wait()
			for _, ch := range []string{"#deploys", "#releases"} {
				var got []chat.Message
				waitDeadline(t, "the car's outcome in "+ch, func() bool {
					got = h.notes.find(ch, "🚂 billing 77")
					return len(got) > 0
				})
				if len(got) != 1 {
					t.Fatalf("outcome posts in %s: got %d, want 1", ch, len(got))
				}
				if r := render(got[0]); r != tc.want {
					t.Errorf("outcome in %s:\ngot  %s\nwant %s", ch, r, tc.want)
				}
				if got[0].Level != tc.wantLevel {
					t.Errorf("level in %s: got %v, want %v", ch, got[0].Level, tc.wantLevel)
				}
			}
		})
	}
}

// TestDepartWaitsForACarAsLongAsTheTrainSays: the train's deploy_timeout
// bounds the wait for a car's deploy. It used to be wired nowhere: the
// departure waited for a stuck deploy as long as it took, and the cars
// after it with it.
func TestDepartWaitsForACarAsLongAsTheTrainSays(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), func(c *config.Config) {
		c.Trains["daily"].DeployTimeout = config.Duration(20 * time.Millisecond)
	})
	h.board("alice", "accounting", "1338")
	h.board("bob", "billing", "77")
	h.runner.outcome["accounting"] = "hang"
	h.clock.Set(at(2026, 6, 2, 14, 0))
	done := make(chan Summary, 1)
	go func() { done <- h.s.Depart(t.Context(), "daily", "") }()
	var sum Summary
	select {
	case sum = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Depart: still waiting for the stuck deploy after 10s, want it to stop waiting after deploy_timeout, 20ms")
	}
	want := `🚂 The 14:00 train to production has left: 1 shipped, 1 still running
  ✅ billing 77 (@bob): deploy d2 succeeded
  ⏳ accounting 1338 (@alice): no outcome after 20ms (deploy_timeout); deploy d1 may still be running (` + suggest.Command("status") + ` shows it); it left the train`
	if got := render(sum.Message); got != want {
		t.Errorf("summary:\ngot  %s\nwant %s", got, want)
	}
}

// TestCarOutcomeAfterTheSchedulerStopped: a car's deploy that outlives
// the departure and then the scheduler itself still has its outcome said
// once it ends. It used to be handed to the scheduler's wait group after
// Run had waited on it at zero, which the race detector reports.
func TestCarOutcomeAfterTheSchedulerStopped(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.board("bob", "billing", "77")
	h.runner.outcome["billing"] = "later"
	h.runner.finishLater = make(chan struct{})
	h.deployTimeout = 20 * time.Millisecond
	h.run(at(2026, 6, 2, 14, 1))
	if got := h.notes.find("#deploys", "🚂 billing 77"); len(got) != 0 {
		t.Fatalf("outcome before the deploy ended: %+v", got)
	}
	close(h.runner.finishLater)
	h.runner.wg.Wait()
	waitDeadline(t, "the car's outcome after the scheduler stopped", func() bool {
		return len(h.notes.find("#deploys", "🚂 billing 77")) == 1
	})
}

// TestDepartureEndUnrecorded: a departure whose end the store does not
// record is found unended at the next start and said to have been cut
// short; its audit entry, written once the store has answered, says so.
func TestDepartureEndUnrecorded(t *testing.T) {
	const entry = "switchman event: train daily departure Tue 2 Jun 14:00 CEST: left empty"
	for _, tc := range []struct {
		name  string
		err   error
		lands bool
		want  string
	}{
		{"recorded", nil, false, entry},
		{"refused", fmt.Errorf("write: %w", deploy.ErrStoreNotRun), false,
			entry + "; its end could not be recorded (state store unreachable): the next start says it was cut short"},
		{"reply lost", errors.New("dial tcp 127.0.0.1:6379: i/o timeout"), true,
			entry + "; whether its end was recorded is not known (state store unreachable): if not, the next start says it was cut short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
			h.store.setFailMark(KindEnded, tc.err, tc.lands)
			h.clock.Set(at(2026, 6, 2, 14, 0))
			if sum := h.s.Depart(t.Context(), "daily", ""); sum.Err != nil {
				t.Fatalf("Depart: %v", sum.Err)
			}
			audited := h.store.audited()
			if len(audited) == 0 || audited[len(audited)-1] != tc.want {
				t.Errorf("audit entries %q: want the last %q", audited, tc.want)
			}
		})
	}
}
