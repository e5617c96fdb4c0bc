package train

import (
	"context"
	"slices"
	"testing"
)

// leftOnceBack is a store where a car is taken off (train leave) as soon
// as the departure has put it back, before the departure reads the cars
// again for its summary, by dora at 14:00.
type leftOnceBack struct {
	Store
	t   *testing.T
	app string
}

func (s leftOnceBack) ReturnCars(ctx context.Context, name string, back []Car) error {
	if err := s.Store.ReturnCars(ctx, name, back); err != nil {
		return err
	}
	if _, err := s.Store.Leave(ctx, name, s.app, "dora", at(2026, 6, 2, 14, 0)); err != nil {
		s.t.Errorf("%s leaves: %v", s.app, err)
	}
	return nil
}

// TestCarTakenOffOncePutBack: a car put back aboard by the departure,
// and taken off (train leave) before the summary reads the cars again,
// does not move to the next train, nor does a car boarded in place of
// one and put back so. The summary said the first moved to the next
// train, and the second waited for it, as only cars that could not be
// put back were looked for in what the read showed; and then counted the
// first as taken off before its turn, which it had been held back at.
func TestCarTakenOffOncePutBack(t *testing.T) {
	const busy = "billing/production is busy: rollback of build 76 by ana since 13:59:58 (deploy d0)"
	tests := []struct {
		name   string
		alone  bool // billing is the only car aboard
		during func(h *harness)
		want   string
	}{
		{name: "held back at its turn",
			want: `🚂 The 14:00 train to production has left: 2 shipped, 1 put back aboard and taken off
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d3 succeeded
  ↩ billing 77 (@bob) did not ship: ` + busy + `; it was taken off the train since, by @dora at 14:00`},
		{name: "held back at its turn, alone", alone: true,
			want: `🚂 The 14:00 train to production did not leave: 1 put back aboard and taken off
  ↩ billing 77 (@bob) did not ship: ` + busy + `; it was taken off the train since, by @dora at 14:00`},
		{name: "boarded in place of another",
			during: func(h *harness) { h.board("ana", "billing", "78") },
			want: `🚂 The 14:00 train to production has left: 2 shipped, 1 replaced by a newer boarding
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d2 succeeded
  ↩ billing 77 (@bob) did not ship: billing 78 (@ana) boarded in its place; that car was taken off the train since, by @dora at 14:00`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 13, 0), nil)
			if !tc.alone {
				h.board("alice", "accounting", "1338")
			}
			h.board("bob", "billing", "77")
			if !tc.alone {
				h.board("carl", "search", "5")
			}
			h.runner.outcome["billing"] = "refuse conflict: " + busy
			h.runner.onDeploy = func(app string) {
				if app == "accounting" && tc.during != nil {
					tc.during(h)
				}
			}
			h.s.store = leftOnceBack{Store: h.store, t: t, app: "billing"}
			h.clock.Set(at(2026, 6, 2, 14, 0))
			sum := h.s.Depart(t.Context(), "daily", "")
			if got := render(sum.Message); got != tc.want {
				t.Errorf("summary:\ngot  %s\nwant %s", got, tc.want)
			}
			if got := h.aboard("daily"); len(got) != 0 {
				t.Errorf("aboard after: got %q, want none", got)
			}
			if slices.ContainsFunc(sum.Postponed, func(r CarResult) bool { return r.Car.App == "billing" }) {
				t.Errorf("postponed: %+v, want billing not among them", sum.Postponed)
			}
		})
	}
}
