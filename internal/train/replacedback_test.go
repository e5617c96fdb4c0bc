package train

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// auditedStore is a store the bot runs on: it keeps the audit log too.
type auditedStore interface {
	Store
	Auditor
}

// realStores opens each store the bot runs on, empty, for the tests
// where what the store does with the cars matters.
func realStores(t *testing.T) map[string]func(t *testing.T) auditedStore {
	t.Helper()
	return map[string]func(t *testing.T) auditedStore{
		"embedded": func(t *testing.T) auditedStore {
			st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		"redis": func(t *testing.T) auditedStore {
			srv := redisserver.Start(t)
			st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
}

// onStore makes h's scheduler keep its trains in st, and returns a
// function listing the cars aboard the daily train as "app build".
func (h *harness) onStore(st auditedStore) func() []string {
	h.t.Helper()
	s, err := New(Options{
		Config: h.cfg, Store: st, Runner: h.runner, Notifier: h.notes, Gate: h.gate, Audit: st,
		Builds: fakeBuilds{"accounting 1338": true, "billing 77": true, "billing 78": true, "billing 79": true, "search 5": true},
		Now:    h.clock.Now, Sleep: h.sleep, Leader: h.isLeader,
	})
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	h.s = s
	return func() []string {
		h.t.Helper()
		cars, err := st.Cars(h.t.Context(), "daily")
		if err != nil {
			h.t.Fatal(err)
		}
		var out []string
		for _, c := range cars {
			out = append(out, c.App+" "+c.Build)
		}
		return out
	}
}

// TestHeldBackCarReplacedMeanwhile: billing 77 is refused at its turn,
// its app busy, and is to be put back for the next train; bob boards
// billing 78 while search ships, and putting billing 77 back drops it
// for the newer boarding. The summary said billing 77 moved to the
// next train, where nobody would find it.
func TestHeldBackCarReplacedMeanwhile(t *testing.T) {
	const busy = "billing/production is busy: rollback of build 76 by ana since 13:59:58 (deploy d0)"
	tests := []struct {
		name string
		// during runs as each app's deploy starts, by app.
		during     map[string]func(h *harness)
		want       string
		wantAboard []string
	}{
		{name: "boarded again while later cars ship",
			during: map[string]func(h *harness){"search": func(h *harness) { h.board("bob", "billing", "78") }},
			want: `🚂 The 14:00 train to production has left: 2 shipped, 1 replaced by a newer boarding
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d3 succeeded
  ↩ billing 77 (@bob) did not ship: ` + busy + `; billing 78 (@bob) boarded in its place since, and waits for the next train
  Next departure: Wed 3 Jun 14:00 CEST.`,
			wantAboard: []string{"billing 78"}},
		{name: "boarded again by someone else",
			during: map[string]func(h *harness){"search": func(h *harness) { h.board("ana", "billing", "79") }},
			want: `🚂 The 14:00 train to production has left: 2 shipped, 1 replaced by a newer boarding
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d3 succeeded
  ↩ billing 77 (@bob) did not ship: ` + busy + `; billing 79 (@ana) boarded in its place since, and waits for the next train
  Next departure: Wed 3 Jun 14:00 CEST.`,
			wantAboard: []string{"billing 79"}},
		{name: "not boarded again",
			during: nil,
			want: `🚂 The 14:00 train to production has left: 2 shipped, 1 moves to the next train
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d3 succeeded
  ⏭ billing 77 (@bob) moves to the next train: ` + busy + `
  Next departure: Wed 3 Jun 14:00 CEST.`,
			wantAboard: []string{"billing 77"}},
		{name: "the car boarded in place of it boarded again",
			during: map[string]func(h *harness){
				"accounting": func(h *harness) { h.board("bob", "billing", "78") },
				"search":     func(h *harness) { h.board("ana", "billing", "79") },
			},
			want: `🚂 The 14:00 train to production has left: 2 shipped, 1 replaced by a newer boarding
  ✅ accounting 1338 (@alice): deploy d1 succeeded
  ✅ search 5 (@carl): deploy d2 succeeded
  ↩ billing 77 (@bob) did not ship: billing 78 (@bob) boarded in its place; then billing 79 (@ana) boarded in place of that car, and waits for the next train`,
			wantAboard: []string{"billing 79"}},
	}
	for name, open := range realStores(t) {
		for _, tc := range tests {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, at(2026, 6, 2, 13, 0), nil)
				aboard := h.onStore(open(t))
				h.board("alice", "accounting", "1338")
				h.board("bob", "billing", "77")
				h.board("carl", "search", "5")
				h.runner.outcome["billing"] = "refuse conflict: " + busy
				h.runner.onDeploy = func(app string) {
					if f := tc.during[app]; f != nil {
						f(h)
					}
				}
				h.clock.Set(at(2026, 6, 2, 14, 0))
				sum := h.s.Depart(t.Context(), "daily", "")
				if got := render(sum.Message); got != tc.want {
					t.Errorf("summary:\ngot  %s\nwant %s", got, tc.want)
				}
				if got := aboard(); !slices.Equal(got, tc.wantAboard) {
					t.Errorf("aboard after the departure: got %q, want %q", got, tc.wantAboard)
				}
			})
		}
	}
}
