package train

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestStopWhileDepartureWaits: a scheduled departure due while the train
// is departing already (sent off early here, or on another replica)
// waits for it; if the bot stops meanwhile, the scheduled one does not
// leave. The audit log says so, as it says what became of every scheduled
// departure, and so does the train's channel, to the people waiting for
// it: their cars stay aboard for the next train, and it says when that is.
func TestStopWhileDepartureWaits(t *testing.T) {
	tests := []struct {
		name string
		// early sends the train off early here, with accounting aboard;
		// otherwise another replica holds the train's departure lease.
		early     bool
		why       string
		wantLines []string
	}{
		{
			name: "an earlier departure here", early: true,
			why:       "the bot stopped while an earlier departure of the train was under way",
			wantLines: []string{"billing 77 (@bob) stay aboard for the next one, Tue 2 Jun 14:00 CEST."},
		},
		{
			name:      "a departure on another replica",
			why:       "the bot stopped while another replica was departing the train",
			wantLines: []string{"accounting 1338 (@alice), billing 77 (@bob) stay aboard for the next one, Tue 2 Jun 14:00 CEST."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 1, 13, 58), nil) // a Monday
			h.board("alice", "accounting", "1338")
			// accounting's deploy finishes only as the bot stops: the
			// early departure holds the train until then.
			h.runner.outcome["accounting"] = "at stop"
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			opt := Options{Config: h.cfg, Store: h.store, Runner: h.runner, Notifier: h.notes, Audit: h.store, Now: h.clock.Now,
				Sleep: func(sctx context.Context, until time.Time) error {
					if until.After(at(2026, 6, 1, 14, 0)) {
						// The 14:00 departure is due, and waits: the
						// bot stops now.
						waitDeadline(t, "the 14:00 departure to wait", func() bool {
							w, err := h.store.LastRun(t.Context(), "daily", KindWaiting)
							return err == nil && !w.IsZero()
						})
						stop()
						return sctx.Err()
					}
					h.clock.Set(until)
					return nil
				}}
			if !tt.early {
				opt.Leases = heldLeases{}
			}
			s, err := New(opt)
			if err != nil {
				t.Fatal(err)
			}
			if tt.early {
				if _, err := s.DepartNow(t.Context(), "ana", "daily"); err != nil {
					t.Fatal(err)
				}
				waitDeadline(t, "the early departure's deploy", func() bool { return len(h.runner.texts()) == 1 })
			}
			h.board("bob", "billing", "77")

			if err := s.Run(ctx); err != nil {
				t.Fatalf("Run: %v", err)
			}

			want := "switchman event: train daily departure Mon 1 Jun 14:00 CEST: did not leave: " + tt.why
			if got := h.store.audited(); !slices.Contains(got, want) {
				t.Errorf("audited %q, want %q", got, want)
			}
			title := "⚠ The 14:00 train to production did not leave: " + tt.why + "."
			if got := h.notes.find("#deploys", title); len(got) != 1 || !slices.Equal(got[0].Lines, tt.wantLines) || got[0].Level != chat.Warning || !got[0].Public {
				t.Errorf("posts %q; want one public warning %q with lines %q", h.notes.titles("#deploys"), title, tt.wantLines)
			}
			wantDeploys := 0
			if tt.early {
				wantDeploys = 1 // accounting's, on the early departure
			}
			if got := h.runner.texts(); len(got) != wantDeploys {
				t.Errorf("deploys %q, want %d", got, wantDeploys)
			}
		})
	}
}

// heldLeases is a Leaser whose every lease another replica holds.
type heldLeases struct{}

func (heldLeases) Acquire(_ context.Context, key, _ string, _ time.Duration) (deploy.Lease, error) {
	return nil, &deploy.LeaseHeldError{Key: key, Holder: "departure of daily on another replica"}
}

func (heldLeases) Holder(context.Context, string) (string, error) {
	return "departure of daily on another replica", nil
}

// TestStopAsDepartureFallsDue: a bot told to stop just as a departure
// falls due does not begin it. It is neither recorded as run nor audited
// and announced as not leaving for a reason it does not have (the store,
// asked within the ended context, "unreachable"): once the bot is back
// within the train's grace it runs late, and the audit log holds one
// entry for it, its summary.
func TestStopAsDepartureFallsDue(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 13, 50), nil) // a Tuesday
	h.board("alice", "accounting", "1338")
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	s, err := New(Options{Config: h.cfg, Store: h.store, Runner: h.runner, Notifier: h.notes, Audit: h.store, Now: h.clock.Now,
		Sleep: func(sctx context.Context, until time.Time) error {
			if until.Equal(at(2026, 6, 2, 14, 0)) {
				// The timer fires as the bot is told to stop.
				h.clock.Set(until)
				stop()
				return nil
			}
			<-sctx.Done()
			return sctx.Err()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := h.store.audited(); len(got) != 0 {
		t.Errorf("audited as the bot stopped: %q, want nothing: the departure did not begin", got)
	}
	if got := h.notes.titles("#deploys"); len(got) != 0 {
		t.Errorf("posts as the bot stopped: %q, want none", got)
	}

	h.clock.Set(at(2026, 6, 2, 14, 5))
	h.run(at(2026, 6, 2, 14, 10))
	var entries []string
	for _, e := range h.store.audited() {
		if strings.Contains(e, "train daily departure Tue 2 Jun 14:00 CEST") {
			entries = append(entries, e)
		}
	}
	if len(entries) != 1 || !strings.Contains(entries[0], "has left: 1 shipped") {
		t.Errorf("audit entries of the 14:00 departure: %q, want one, its summary (it ran late)", entries)
	}
}

// waitDeadline polls cond until it holds or 10 seconds pass.
func waitDeadline(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
