package storetest

import (
	"fmt"
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
	t.Run("the first answer stays", func(t *testing.T) {
		// A step readies the store before the call under test.
		type step func(*testing.T, Store, *Clock)
		leave := func(id, kind, value string) step {
			return func(t *testing.T, s Store, _ *Clock) {
				t.Helper()
				if _, left, err := s.SignalFirst(t.Context(), id, kind, value, time.Minute); err != nil || !left {
					t.Fatalf("SignalFirst(%s, %s, %q) on an empty store: got %v, %v; want it left", id, kind, value, left, err)
				}
			}
		}
		var signalled step = func(t *testing.T, s Store, _ *Clock) {
			t.Helper()
			if err := s.Signal(t.Context(), "d1", "confirm", "ok bob", time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		later := func(d time.Duration) step {
			return func(_ *testing.T, _ Store, c *Clock) { c.Advance(d) }
		}
		var taken step = func(t *testing.T, s Store, _ *Clock) { take(t, s, "d1", "confirm", "ok bob", true) }
		for _, tc := range []struct {
			name   string
			before []step
			// held is what SignalFirst of "abort carl" finds in its way
			// ("" if it leaves its own); then TakeSignal gets want.
			held, want string
		}{
			{name: "nothing left before", want: "abort carl"},
			{name: "one waiting", before: []step{leave("d1", "confirm", "ok bob")}, held: "ok bob", want: "ok bob"},
			{name: "one waiting, left by Signal", before: []step{signalled}, held: "ok bob", want: "ok bob"},
			{name: "one waiting, nearly expired", before: []step{leave("d1", "confirm", "ok bob"), later(59 * time.Second)}, held: "ok bob", want: "ok bob"},
			{name: "one expired", before: []step{leave("d1", "confirm", "ok bob"), later(2 * time.Minute)}, want: "abort carl"},
			{name: "one taken", before: []step{leave("d1", "confirm", "ok bob"), taken}, want: "abort carl"},
			{name: "one of another kind", before: []step{leave("d1", "cancel", "bob")}, want: "abort carl"},
			{name: "one for another run", before: []step{leave("d2", "confirm", "ok bob")}, want: "abort carl"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, clock := fresh(t)
				for _, step := range tc.before {
					step(t, s, clock)
				}
				held, left, err := s.SignalFirst(t.Context(), "d1", "confirm", "abort carl", time.Minute)
				if err != nil || held != tc.held || left != (tc.held == "") {
					t.Errorf("SignalFirst: got %q, %v, %v; want %q, %v", held, left, err, tc.held, tc.held == "")
				}
				take(t, s, "d1", "confirm", tc.want, true)
			})
		}
	})
	t.Run("one of racing first signals is left", func(t *testing.T) {
		s, _ := fresh(t)
		var mu sync.Mutex
		var left []string
		held := map[string]int{}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				v := fmt.Sprintf("ok user%d", i)
				h, ok, err := s.SignalFirst(t.Context(), "d1", "confirm", v, time.Minute)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("SignalFirst(%q): %v", v, err)
				case ok:
					left = append(left, v)
				default:
					held[h]++
				}
			})
		}
		wg.Wait()
		if len(left) != 1 {
			t.Fatalf("a first signal left by %d of 8 callers (%q), want 1", len(left), left)
		}
		if held[left[0]] != 7 {
			t.Errorf("the callers refused found %v, want %q 7 times", held, left[0])
		}
		take(t, s, "d1", "confirm", left[0], true)
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
