package train

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/config"
)

// TestCarLeftBehindSaidBeforeTheDeparture: a car whose app, or the app's
// env, was removed from the config after it boarded never ships. The
// boarding reply, the boarding and reminder announcements and train say
// so beforehand, as the departure will, rather than list it among the
// cars that leave.
func TestCarLeftBehindSaidBeforeTheDeparture(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remove func(*config.Config)
		behind string
	}{
		{"app removed", func(c *config.Config) { delete(c.Apps, "billing") },
			"billing 77 (@bob) left behind: its app is no longer configured"},
		{"env removed", func(c *config.Config) { delete(c.Apps["billing"].Envs, "production") },
			"billing 77 (@bob) left behind: its app's env production is no longer configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 1, 9, 0), nil)
			h.board("alice", "accounting", "1338")
			h.board("bob", "billing", "77")
			tc.remove(h.cfg)

			reply, err := h.s.Board(t.Context(), "carl", "daily", "search", "5", "")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := render(reply), "\n  "+tc.behind+"."; !strings.Contains(got, want) {
				t.Errorf("boarding reply: got %q, want it to contain %q", got, want)
			}
			list, err := h.s.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := render(list), "aboard: accounting 1338 (@alice), search 5 (@carl); "+tc.behind; !strings.Contains(got, want) {
				t.Errorf("train: got %q, want it to contain %q", got, want)
			}

			h.run(at(2026, 6, 1, 13, 50))
			for _, want := range []string{
				"🚂 The 14:00 train to production is boarding: accounting 1338 (@alice), search 5 (@carl). Board with /train board APP BUILD.\n  " + tc.behind + ".",
				"⏰ The 14:00 train to production leaves in 15 minutes: accounting 1338 (@alice), search 5 (@carl).\n  " + tc.behind + ".",
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
