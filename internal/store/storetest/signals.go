package storetest

import (
	"sync"
	"testing"
	"time"
)

func testSignals(t *testing.T, fresh freshFunc) {
	take := func(t *testing.T, s Store, id, kind, want string, wantOK bool) {
		t.Helper()
		got, ok, err := s.TakeSignal(t.Context(), id, kind)
		if err != nil || got != want || ok != wantOK {
			t.Errorf("TakeSignal(%s, %s): got %q, %v, %v; want %q, %v", id, kind, got, ok, err, want, wantOK)
		}
	}
	t.Run("left and taken once", func(t *testing.T) {
		s, _ := fresh(t)
		take(t, s, "d1", "cancel", "", false)
		if err := s.Signal(t.Context(), "d1", "cancel", "ana", time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Signal(t.Context(), "d1", "confirm", "ok bob", time.Minute); err != nil {
			t.Fatal(err)
		}
		take(t, s, "d2", "cancel", "", false)
		take(t, s, "d1", "cancel", "ana", true)
		take(t, s, "d1", "cancel", "", false)
		take(t, s, "d1", "confirm", "ok bob", true)
	})
	t.Run("a later signal replaces an earlier", func(t *testing.T) {
		s, _ := fresh(t)
		for _, v := range []string{"ok ana", "abort bob"} {
			if err := s.Signal(t.Context(), "d1", "confirm", v, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		take(t, s, "d1", "confirm", "abort bob", true)
	})
	t.Run("expired", func(t *testing.T) {
		s, clock := fresh(t)
		if err := s.Signal(t.Context(), "d1", "cancel", "ana", time.Minute); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Minute)
		take(t, s, "d1", "cancel", "", false)
	})
	t.Run("one taker", func(t *testing.T) {
		s, _ := fresh(t)
		if err := s.Signal(t.Context(), "d1", "cancel", "ana", time.Minute); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		taken := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, ok, err := s.TakeSignal(t.Context(), "d1", "cancel"); err == nil && ok {
					mu.Lock()
					taken++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if taken != 1 {
			t.Errorf("a signal taken by %d of 8 callers, want 1", taken)
		}
	})
}
