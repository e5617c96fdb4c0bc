package train

import (
	"testing"
	"time"
)

// TestSummaryNamesWhoTookCarOff: the summary says who took a car off the
// train (train leave) during the departure, and when, from the store's
// record of it; a car taken off with no record (by a version that kept
// none) is said as before. The summary could not say who, as the store
// kept only that the car was gone.
func TestSummaryNamesWhoTookCarOff(t *testing.T) {
	const locked = "billing/production is locked: db move"
	tests := []struct {
		name string
		// leave takes app's car off as the departure ships search.
		leave func(h *harness, app string)
		lock  bool // billing is held back as the departure starts
		want  string
	}{
		{name: "before its turn",
			leave: func(h *harness, app string) { h.leaveAs("dora", app) },
			want: `🚂 The 14:00 train to production has left: 1 shipped, 1 taken off before its turn
  ✅ search 5 (@carl): deploy d1 succeeded
  ↩ billing 77 (@bob) did not ship: it was taken off the train before its turn, by @dora at 14:00`},
		{name: "held back, during the departure", lock: true,
			leave: func(h *harness, app string) { h.leaveAs("dora", app) },
			want: `🚂 The 14:00 train to production has left: 1 shipped, 1 held back, then taken off
  ✅ search 5 (@carl): deploy d1 succeeded
  ↩ billing 77 (@bob) did not ship: ` + locked + `; it was taken off the train during the departure, by @dora at 14:00`},
		{name: "by its boarder",
			leave: func(h *harness, app string) { h.leaveAs("bob", app) },
			want: `🚂 The 14:00 train to production has left: 1 shipped, 1 taken off before its turn
  ✅ search 5 (@carl): deploy d1 succeeded
  ↩ billing 77 (@bob) did not ship: it was taken off the train before its turn, by @bob at 14:00`},
		{name: "no record kept",
			leave: func(h *harness, app string) {
				if _, err := h.store.Leave(h.t.Context(), "daily", app, "", time.Time{}); err != nil {
					h.t.Errorf("%s leaves: %v", app, err)
				}
			},
			want: `🚂 The 14:00 train to production has left: 1 shipped, 1 taken off before its turn
  ✅ search 5 (@carl): deploy d1 succeeded
  ↩ billing 77 (@bob) did not ship: it was taken off the train before its turn`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
			h.board("carl", "search", "5")
			h.board("bob", "billing", "77")
			if tc.lock {
				h.gate.lock("billing", locked)
			}
			h.runner.onDeploy = func(app string) {
				if app == "search" {
					tc.leave(h, "billing")
				}
			}
			h.clock.Set(at(2026, 6, 2, 14, 0))
			sum := h.s.Depart(t.Context(), "daily", "")
			if got := render(sum.Message); got != tc.want {
				t.Errorf("summary:\ngot  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// leaveAs takes app's car off the daily train as user sends train leave.
func (h *harness) leaveAs(user, app string) {
	h.t.Helper()
	if _, err := h.s.Leave(h.t.Context(), user, "daily", app); err != nil {
		h.t.Errorf("%s takes %s off: %v", user, app, err)
	}
}
