package train

import (
	"context"
	"testing"
	"time"
)

// staleRuns is a Store whose LastRun of a departure answers what it read
// before another replica recorded the departure: a replica paused (or
// kept waiting by its store) between its look at the schedule as leader
// and its record of the event.
type staleRuns struct {
	*MemStore
}

func (s staleRuns) LastRun(ctx context.Context, name, kind string) (time.Time, error) {
	if kind == KindDeparture {
		return time.Time{}, nil
	}
	return s.MemStore.LastRun(ctx, name, kind)
}

// TestOneDepartureWhenTwoReplicasFireIt: a replica that read a departure
// as not run, and records it only after the new leader ran it, does not
// run it a second time with the cars boarded since.
func TestOneDepartureWhenTwoReplicasFireIt(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 14, 0), nil)
	h.board("alice", "accounting", "1338")
	replica := func(st Store) *Scheduler {
		s, err := New(Options{Config: h.cfg, Store: st, Runner: h.runner, Notifier: h.notes, Audit: h.store, Once: h.store,
			Now: h.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := replica(h.store), replica(staleRuns{h.store})
	seen, now := at(2026, 6, 2, 13, 59), at(2026, 6, 2, 14, 0)
	a.tick(t.Context(), seen, now)
	a.wg.Wait()
	h.board("bob", "billing", "77")
	b.tick(t.Context(), seen, now)
	b.wg.Wait()
	if got := h.runner.texts(); len(got) != 1 {
		t.Errorf("deploys: got %q, want accounting's alone", got)
	}
	if got := h.aboard("daily"); len(got) != 1 || got[0] != "billing 77" {
		t.Errorf("aboard: got %q, want billing 77 for the next train", got)
	}
}
