package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
)

func testWatches(t *testing.T, fresh freshFunc) {
	watch := func(id string, fence int64, state string) watchstore.Watch {
		return watchstore.Watch{ID: id, App: "accounting", Env: "production", Fence: fence, State: []byte(state)}
	}
	// claim takes the lease of the watch of id, as the bot running it does.
	claim := func(t *testing.T, s Store, id, holder string) deploy.Lease {
		t.Helper()
		return mustAcquire(t, s, watchstore.LeaseKey(id), holder, leaseTTL)
	}
	assertWatches := func(t *testing.T, s Store, want ...watchstore.Watch) {
		t.Helper()
		got, err := s.Watches(t.Context())
		if err != nil {
			t.Fatalf("Watches: %v", err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Watches: got %v, want %v", got, want)
		}
		for _, w := range want {
			g, err := s.Watch(t.Context(), w.ID)
			if err != nil || fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("Watch(%s): got %v, %v; want %v", w.ID, g, err, w)
			}
		}
	}
	assertStale := func(t *testing.T, op string, err error) {
		t.Helper()
		if !errors.Is(err, deploy.ErrLeaseLost) || errs.CodeOf(err) != errs.Conflict {
			t.Errorf("%s: got %v (code %s), want an error wrapping deploy.ErrLeaseLost, code conflict", op, err, errs.CodeOf(err))
		}
	}

	t.Run("put, replace, list, delete", func(t *testing.T) {
		s, _ := fresh(t)
		assertWatches(t, s)
		l1, l2 := claim(t, s, "d2", "bot-1"), claim(t, s, "d1", "bot-1")
		w2, w1 := watch("d2", l1.Token(), `{"next":"10:05"}`), watch("d1", l2.Token(), "\x00binary\xff")
		for _, w := range []watchstore.Watch{w2, w1} {
			if err := s.PutWatch(t.Context(), w); err != nil {
				t.Fatalf("PutWatch(%s): %v", w.ID, err)
			}
		}
		assertWatches(t, s, w1, w2)
		w2.State = []byte(`{"next":"10:06"}`)
		if err := s.PutWatch(t.Context(), w2); err != nil {
			t.Fatalf("PutWatch again: %v", err)
		}
		assertWatches(t, s, w1, w2)
		if err := s.DeleteWatch(t.Context(), "d1", l2.Token()); err != nil {
			t.Fatalf("DeleteWatch: %v", err)
		}
		assertWatches(t, s, w2)
		if err := s.DeleteWatch(t.Context(), "d1", l2.Token()); err != nil {
			t.Errorf("DeleteWatch of a watch not there: got %v, want nil", err)
		}
		_, err := s.Watch(t.Context(), "d1")
		if !errors.Is(err, deploy.ErrNotFound) || errs.CodeOf(err) != errs.NotFound {
			t.Errorf("Watch of a deleted watch: got %v (code %s), want an error wrapping deploy.ErrNotFound", err, errs.CodeOf(err))
		}
	})

	t.Run("a holder whose lease was taken over writes nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			// written: the new holder wrote the watch before the old one
			// tries; otherwise it only took the lease.
			written bool
		}{
			{name: "the new holder took the lease"},
			{name: "the new holder wrote the watch", written: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, clock := fresh(t)
				old := claim(t, s, "d1", "bot-1")
				first := watch("d1", old.Token(), "interval 1")
				if err := s.PutWatch(t.Context(), first); err != nil {
					t.Fatal(err)
				}
				clock.Advance(leaseTTL + time.Second) // bot-1 paused past its lease
				taken := claim(t, s, "d1", "bot-2")
				kept := first
				if tc.written {
					kept = watch("d1", taken.Token(), "interval 1, taken over")
					if err := s.PutWatch(t.Context(), kept); err != nil {
						t.Fatal(err)
					}
				}
				assertStale(t, "PutWatch with the old token", s.PutWatch(t.Context(), watch("d1", old.Token(), "interval 2")))
				assertStale(t, "DeleteWatch with the old token", s.DeleteWatch(t.Context(), "d1", old.Token()))
				assertWatches(t, s, kept)
				if err := s.DeleteWatch(t.Context(), "d1", taken.Token()); err != nil {
					t.Fatalf("DeleteWatch with the new token: %v", err)
				}
				assertWatches(t, s)
			})
		}
	})

	t.Run("watches are fenced by their own lease", func(t *testing.T) {
		s, clock := fresh(t)
		l := claim(t, s, "d1", "bot-1")
		clock.Advance(leaseTTL + time.Second)
		claim(t, s, "d2", "bot-2")
		mustAcquire(t, s, deploy.LeaseKey("accounting", "production"), "bot-2", leaseTTL)
		w := watch("d1", l.Token(), "x")
		if err := s.PutWatch(t.Context(), w); err != nil {
			t.Fatalf("PutWatch after other leases were taken: %v", err)
		}
		assertWatches(t, s, w)
	})

	t.Run("an id must be given", func(t *testing.T) {
		s, _ := fresh(t)
		for _, id := range []string{"", "d\x001"} {
			if err := s.PutWatch(t.Context(), watch(id, 1, "x")); errs.CodeOf(err) != errs.Invalid {
				t.Errorf("PutWatch(%q): got %v, want an invalid error", id, err)
			}
			if err := s.DeleteWatch(t.Context(), id, 1); errs.CodeOf(err) != errs.Invalid {
				t.Errorf("DeleteWatch(%q): got %v, want an invalid error", id, err)
			}
		}
	})

	t.Run("one of racing holders writes", func(t *testing.T) {
		// Each racer takes the lease after the one before it lost it,
		// then all write at once: only the newest token's write stays.
		s, clock := fresh(t)
		var tokens []int64
		for i := range 4 {
			tokens = append(tokens, claim(t, s, "d1", fmt.Sprintf("bot-%d", i)).Token())
			clock.Advance(leaseTTL + time.Second)
		}
		var wg sync.WaitGroup
		for i, tok := range tokens {
			wg.Go(func() {
				err := s.PutWatch(t.Context(), watch("d1", tok, fmt.Sprint(i)))
				if (err == nil) != (i == len(tokens)-1) {
					t.Errorf("PutWatch with token %d of bot-%d: got %v", tok, i, err)
				}
			})
		}
		wg.Wait()
		assertWatches(t, s, watch("d1", tokens[len(tokens)-1], fmt.Sprint(len(tokens)-1)))
	})
}
