package train

import (
	"context"
	"errors"
	"strings"
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

// lostOnce is a Store whose first SetOnce (or SetOnceToken) of an event is
// applied and its reply lost: the call times out, whatever the store did.
type lostOnce struct {
	*MemStore
	lost bool
}

var errLostReply = errors.New("i/o timeout")

func (s *lostOnce) SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return s.lose(s.MemStore.SetOnce(ctx, key, ttl))
}

func (s *lostOnce) SetOnceToken(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	return s.lose(s.MemStore.SetOnceToken(ctx, key, token, ttl))
}

func (s *lostOnce) lose(set bool, err error) (bool, error) {
	if err != nil || s.lost {
		return set, err
	}
	s.lost = true
	return false, errLostReply
}

// TestEventTakenWithItsReplyLost: a replica whose record of a departure
// as its own timed out says nothing it does not know. If another replica
// took the departure, it leaves the announcement to that one, which
// departs: the channel is not told both that the train left and that it
// did not. If the record was its own, it runs the departure.
func TestEventTakenWithItsReplyLost(t *testing.T) {
	for _, tt := range []struct {
		name        string
		otherFirst  bool
		wantDeploys int
	}{
		{"another replica took it", true, 1},
		{"this replica took it", false, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, at(2026, 6, 2, 14, 0), nil)
			h.board("alice", "accounting", "1338")
			replica := func(st Store, once Once) *Scheduler {
				s, err := New(Options{Config: h.cfg, Store: st, Runner: h.runner, Notifier: h.notes, Audit: h.store, Once: once,
					Now: h.clock.Now})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			seen, now := at(2026, 6, 2, 13, 59), at(2026, 6, 2, 14, 0)
			if tt.otherFirst {
				a := replica(h.store, h.store)
				a.tick(t.Context(), seen, now)
				a.wg.Wait()
			}
			b := replica(staleRuns{h.store}, &lostOnce{MemStore: h.store})
			b.tick(t.Context(), seen, now)
			b.wg.Wait()
			if got := h.runner.texts(); len(got) != tt.wantDeploys {
				t.Errorf("deploys: got %q, want %d", got, tt.wantDeploys)
			}
			for _, title := range h.notes.titles("#deploys") {
				if strings.Contains(title, "did not leave") || strings.Contains(title, "may not leave") {
					t.Errorf("posted %q, want no word of a departure not leaving", title)
				}
			}
		})
	}
}
