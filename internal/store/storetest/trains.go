package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

func testTrains(t *testing.T, fresh freshFunc) {
	RunTrains(t, func(t *testing.T) trainstore.Store {
		s, _ := fresh(t)
		return s
	})
}

// RunTrains runs the trainstore.Store part of the contract against stores made
// by newStore, each new and empty; Run runs it too. It is exported for
// implementations of trainstore.Store that are not whole state stores.
func RunTrains(t *testing.T, newStore func(t *testing.T) trainstore.Store) {
	t.Run("board in order", func(t *testing.T) {
		s := newStore(t)
		want := []trainstore.Car{car("accounting", "1338", "alice", 0), car("billing", "77", "bob", 1), car("search", "5", "carl", 2)}
		for _, c := range want {
			mustBoard(t, s, "daily", c, 0)
		}
		assertCars(t, s, "daily", want...)
		assertCars(t, s, "weekly")
	})

	t.Run("boarding again replaces the car and moves it to the end", func(t *testing.T) {
		s := newStore(t)
		old := car("accounting", "1337", "alice", 0)
		mustBoard(t, s, "daily", old, 0)
		mustBoard(t, s, "daily", car("billing", "77", "bob", 1), 0)
		replaced, err := s.Board(t.Context(), "daily", car("accounting", "1338", "dora", 2), 2, nil)
		if err != nil {
			t.Fatalf("Board again: %v", err)
		}
		if replaced == nil {
			t.Fatal("Board again: got no replaced car, want the first one")
		}
		assertCar(t, *replaced, old)
		assertCars(t, s, "daily", car("billing", "77", "bob", 1), car("accounting", "1338", "dora", 2))
	})

	t.Run("full train", func(t *testing.T) {
		s := newStore(t)
		mustBoard(t, s, "daily", car("accounting", "1", "alice", 0), 2)
		mustBoard(t, s, "daily", car("billing", "1", "bob", 1), 2)
		_, err := s.Board(t.Context(), "daily", car("search", "1", "carl", 2), 2, nil)
		if errs.CodeOf(err) != errs.Conflict || errs.Message(err) != "the daily train is full (2 cars)" {
			t.Fatalf("Board on a full train: got %v (code %s), want code conflict and %q", err, errs.CodeOf(err), "the daily train is full (2 cars)")
		}
		// Replacing a car of a full train is allowed, as is another train.
		mustBoard(t, s, "daily", car("accounting", "2", "alice", 3), 2)
		mustBoard(t, s, "weekly", car("search", "1", "carl", 4), 2)
		// No limit.
		for i := range 5 {
			mustBoard(t, s, "nightly", car(fmt.Sprintf("app%d", i), "1", "ana", i), 0)
		}
		assertCars(t, s, "daily", car("billing", "1", "bob", 1), car("accounting", "2", "alice", 3))
		if cars := mustCars(t, s, "nightly"); len(cars) != 5 {
			t.Errorf("Cars of nightly: got %d cars, want 5", len(cars))
		}
	})

	t.Run("full train counts the cars counts takes", func(t *testing.T) {
		s := newStore(t)
		// Cars of an app called gone* can never leave: they take no place.
		counts := func(c trainstore.Car) bool { return !strings.HasPrefix(c.App, "gone") }
		mustBoard(t, s, "daily", car("gone1", "1", "alice", 0), 0)
		mustBoard(t, s, "daily", car("accounting", "1", "alice", 1), 0)
		mustBoard(t, s, "daily", car("gone2", "1", "bob", 2), 0)
		if _, err := s.Board(t.Context(), "daily", car("billing", "1", "bob", 3), 2, counts); err != nil {
			t.Fatalf("Board beside two cars that do not count: got %v, want it aboard", err)
		}
		_, err := s.Board(t.Context(), "daily", car("search", "1", "carl", 4), 2, counts)
		if errs.CodeOf(err) != errs.Conflict || errs.Message(err) != "the daily train is full (2 cars)" {
			t.Fatalf("Board on a full train: got %v (code %s), want code conflict and %q", err, errs.CodeOf(err), "the daily train is full (2 cars)")
		}
		// A car that does not count leaves no place when taken off.
		if _, err := s.Leave(t.Context(), "daily", "gone1", "", time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Board(t.Context(), "daily", car("search", "1", "carl", 5), 2, counts); errs.CodeOf(err) != errs.Conflict {
			t.Fatalf("Board on a full train after a car that does not count left: got %v (code %s), want code conflict", err, errs.CodeOf(err))
		}
		// Nor is the limit counted without counts: every car counts.
		if _, err := s.Board(t.Context(), "daily", car("search", "1", "carl", 6), 3, nil); errs.CodeOf(err) != errs.Conflict {
			t.Fatalf("Board on a train of 3 cars, 3 at most, every car counting: got %v (code %s), want code conflict", err, errs.CodeOf(err))
		}
		assertCars(t, s, "daily", car("accounting", "1", "alice", 1), car("gone2", "1", "bob", 2), car("billing", "1", "bob", 3))
	})

	t.Run("trains with cars aboard", func(t *testing.T) {
		s := newStore(t)
		assertTrains(t, s)
		mustBoard(t, s, "weekly", car("accounting", "1338", "alice", 0), 0)
		mustBoard(t, s, "daily", car("billing", "77", "bob", 1), 0)
		mustBoard(t, s, "daily:eu", car("search", "5", "carl", 2), 0)
		mustBoard(t, s, "night*", car("search", "6", "carl", 3), 0)
		assertTrains(t, s, "daily", "daily:eu", "night*", "weekly")
		if _, err := s.Leave(t.Context(), "weekly", "accounting", "", time.Time{}); err != nil {
			t.Fatalf("Leave: %v", err)
		}
		// Run records alone do not make a train one with cars aboard.
		if err := s.MarkRun(t.Context(), "monthly", trainstore.KindDeparture, start); err != nil {
			t.Fatalf("MarkRun: %v", err)
		}
		assertTrains(t, s, "daily", "daily:eu", "night*")
	})

	t.Run("leave", func(t *testing.T) {
		s := newStore(t)
		a, b := car("accounting", "1338", "alice", 0), car("billing", "77", "bob", 1)
		mustBoard(t, s, "daily", a, 0)
		mustBoard(t, s, "daily", b, 0)
		got, err := s.Leave(t.Context(), "daily", "accounting", "", time.Time{})
		if err != nil {
			t.Fatalf("Leave: %v", err)
		}
		assertCar(t, got, a)
		assertCars(t, s, "daily", b)
		for _, tc := range []struct{ train, app string }{{"daily", "accounting"}, {"weekly", "billing"}, {"daily", "search"}} {
			if _, err := s.Leave(t.Context(), tc.train, tc.app, "", time.Time{}); !errors.Is(err, deploy.ErrNotFound) || errs.CodeOf(err) != errs.NotFound {
				t.Errorf("Leave(%s, %s): got %v, want an error wrapping deploy.ErrNotFound with code not_found", tc.train, tc.app, err)
			}
		}
		assertCars(t, s, "daily", b)
	})

	t.Run("leave records who took the car off", func(t *testing.T) {
		s := newStore(t)
		a, b := car("accounting", "1338", "alice", 0), car("billing", "77", "bob", 1)
		mustBoard(t, s, "daily", a, 0)
		mustBoard(t, s, "daily", b, 0)
		assertTakenOff(t, s, "daily", "accounting", trainstore.TakenOff{})
		off := start.Add(time.Hour)
		if _, err := s.Leave(t.Context(), "daily", "accounting", "dora", off); err != nil {
			t.Fatalf("Leave: %v", err)
		}
		want := trainstore.TakenOff{Car: a, By: "dora", At: off}
		assertTakenOff(t, s, "daily", "accounting", want)
		// A departure taking a car for its turn records nobody, and
		// leaves the record of another car of the app as it was.
		mustBoard(t, s, "daily", car("accounting", "1339", "alice", 2), 0)
		if _, err := s.Leave(t.Context(), "daily", "accounting", "", time.Time{}); err != nil {
			t.Fatalf("Leave for its turn: %v", err)
		}
		if _, err := s.Leave(t.Context(), "daily", "billing", "", time.Time{}); err != nil {
			t.Fatalf("Leave for its turn: %v", err)
		}
		assertTakenOff(t, s, "daily", "accounting", want)
		assertTakenOff(t, s, "daily", "billing", trainstore.TakenOff{})
		// Nothing taken off records nothing, nor does another train.
		if _, err := s.Leave(t.Context(), "daily", "search", "dora", off); !errors.Is(err, deploy.ErrNotFound) {
			t.Fatalf("Leave of a car not aboard: got %v, want not found", err)
		}
		assertTakenOff(t, s, "daily", "search", trainstore.TakenOff{})
		assertTakenOff(t, s, "weekly", "accounting", trainstore.TakenOff{})
		// The trains with cars aboard are not those with records.
		assertTrains(t, s)
	})

	t.Run("an end drops the records of cars taken off before the departures still running", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		for _, a := range []string{"accounting", "billing", "search", "mail"} {
			mustBoard(t, s, "daily", car(a, "1", "bob", 0), 0)
		}
		mustBoard(t, s, "weekly", car("accounting", "1", "bob", 0), 0)
		leave := func(name, app string, at time.Time) trainstore.TakenOff {
			t.Helper()
			c, err := s.Leave(ctx, name, app, "dora", at)
			if err != nil {
				t.Fatalf("Leave(%s, %s): %v", name, app, err)
			}
			return trainstore.TakenOff{Car: c, By: "dora", At: at}
		}
		mon := trainstore.Departure{At: start.Add(2 * time.Hour)}
		// accounting is taken off before Monday's departure, billing
		// during it; weekly is another train.
		leave("daily", "accounting", start.Add(time.Hour))
		weekly := leave("weekly", "accounting", start.Add(time.Hour))
		if err := s.StartDeparture(ctx, "daily", mon); err != nil {
			t.Fatal(err)
		}
		billing := leave("daily", "billing", mon.At.Add(time.Minute))
		mustEnd(t, s, "daily", mon)
		assertTakenOff(t, s, "daily", "accounting", trainstore.TakenOff{})
		assertTakenOff(t, s, "daily", "billing", billing)
		assertTakenOff(t, s, "weekly", "accounting", weekly)

		// A departure sent off early runs as Tuesday's falls due, and
		// search is taken off during it; Tuesday's, outwaited, ends
		// first: the early one, still running, keeps its record.
		early := trainstore.Departure{At: start.Add(26 * time.Hour), Early: true}
		tue := trainstore.Departure{At: start.Add(26*time.Hour + 10*time.Minute)}
		if err := s.StartDeparture(ctx, "daily", early); err != nil {
			t.Fatal(err)
		}
		search := leave("daily", "search", early.At.Add(5*time.Minute))
		mustEnd(t, s, "daily", tue)
		assertTakenOff(t, s, "daily", "billing", trainstore.TakenOff{})
		assertTakenOff(t, s, "daily", "search", search)
		// Taken off again since, a car keeps its newer record.
		mustBoard(t, s, "daily", car("billing", "2", "bob", 1), 0)
		billing = leave("daily", "billing", early.At.Add(20*time.Minute))
		mustEnd(t, s, "daily", early)
		assertTakenOff(t, s, "daily", "search", search)
		assertTakenOff(t, s, "daily", "billing", billing)
		wed := trainstore.Departure{At: start.Add(50 * time.Hour)}
		mustEnd(t, s, "daily", wed)
		assertTakenOff(t, s, "daily", "search", trainstore.TakenOff{})
		assertTakenOff(t, s, "daily", "billing", trainstore.TakenOff{})
		assertTakenOff(t, s, "weekly", "accounting", weekly)
		assertCars(t, s, "daily", car("mail", "1", "bob", 0))
	})

	t.Run("return cars to the front", func(t *testing.T) {
		s := newStore(t)
		a, b, c := car("accounting", "1338", "alice", 0), car("billing", "77", "bob", 1), car("search", "5", "carl", 2)
		for _, x := range []trainstore.Car{a, b, c} {
			mustBoard(t, s, "daily", x, 0)
		}
		// A departure takes each car off in its turn.
		for _, x := range []trainstore.Car{a, b, c} {
			if got, err := s.Leave(t.Context(), "daily", x.App, "", time.Time{}); err != nil || got != x {
				t.Fatalf("Leave(%s): got %+v, %v; want %+v", x.App, got, err, x)
			}
		}
		// Boarded during the departure: a new app, and billing again.
		d, b2 := car("mail", "9", "dora", 3), car("billing", "78", "bob", 4)
		mustBoard(t, s, "daily", d, 0)
		mustBoard(t, s, "daily", b2, 0)
		if err := s.ReturnCars(t.Context(), "daily", []trainstore.Car{a, b, c, a}); err != nil {
			t.Fatalf("ReturnCars: %v", err)
		}
		assertCars(t, s, "daily", a, c, d, b2)
		// Returning them again changes nothing.
		if err := s.ReturnCars(t.Context(), "daily", []trainstore.Car{a, c}); err != nil {
			t.Fatalf("ReturnCars again: %v", err)
		}
		assertCars(t, s, "daily", a, c, d, b2)
		// To an empty train, and nothing at all.
		if err := s.ReturnCars(t.Context(), "weekly", []trainstore.Car{b, a}); err != nil {
			t.Fatalf("ReturnCars to weekly: %v", err)
		}
		if err := s.ReturnCars(t.Context(), "weekly", nil); err != nil {
			t.Fatalf("ReturnCars of nothing: %v", err)
		}
		assertCars(t, s, "weekly", b, a)
	})

	t.Run("return cars behind those that stayed aboard", func(t *testing.T) {
		s := newStore(t)
		a, b, c, d := car("accounting", "1338", "alice", 0), car("billing", "77", "bob", 1), car("search", "5", "carl", 2), car("mail", "9", "dora", 3)
		for _, x := range []trainstore.Car{a, b, c, d} {
			mustBoard(t, s, "daily", x, 0)
		}
		// A departure holds accounting and search back where they are,
		// and takes billing and mail off, which go back.
		for _, x := range []trainstore.Car{b, d} {
			if _, err := s.Leave(t.Context(), "daily", x.App, "", time.Time{}); err != nil {
				t.Fatalf("Leave(%s): %v", x.App, err)
			}
		}
		e := car("files", "3", "eve", 4) // boarded during the departure
		mustBoard(t, s, "daily", e, 0)
		if err := s.ReturnCars(t.Context(), "daily", []trainstore.Car{b, d}); err != nil {
			t.Fatalf("ReturnCars: %v", err)
		}
		assertCars(t, s, "daily", a, b, c, d, e)
	})

	t.Run("runs", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		assertLastRun(t, s, "daily", trainstore.KindDeparture, time.Time{})
		dep := time.Date(2026, 3, 29, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600))
		for _, m := range []struct {
			train, kind string
			at          time.Time
		}{
			{"daily", trainstore.KindDeparture, dep.Add(-24 * time.Hour)},
			{"daily", trainstore.KindDeparture, dep},
			{"daily", trainstore.KindBoarding, dep.Add(-4 * time.Hour)},
			{"weekly", trainstore.KindDeparture, dep.Add(time.Hour)},
			{"daily", trainstore.KindCancel, dep.Add(24*time.Hour + 123*time.Millisecond)},
		} {
			if err := s.MarkRun(ctx, m.train, m.kind, m.at); err != nil {
				t.Fatalf("MarkRun(%s, %s): %v", m.train, m.kind, err)
			}
		}
		assertLastRun(t, s, "daily", trainstore.KindDeparture, dep)
		assertLastRun(t, s, "daily", trainstore.KindBoarding, dep.Add(-4*time.Hour))
		assertLastRun(t, s, "daily", trainstore.KindReminder, time.Time{})
		assertLastRun(t, s, "weekly", trainstore.KindDeparture, dep.Add(time.Hour))
		assertLastRun(t, s, "daily", trainstore.KindCancel, dep.Add(24*time.Hour+123*time.Millisecond))
		// An earlier time replaces a later one: MarkRun records, it does not compare.
		if err := s.MarkRun(ctx, "daily", trainstore.KindCancel, dep); err != nil {
			t.Fatal(err)
		}
		assertLastRun(t, s, "daily", trainstore.KindCancel, dep)
	})

	t.Run("a cancellation keeps who called it off and why", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		dep := time.Date(2026, 3, 30, 14, 0, 0, 123, time.FixedZone("CEST", 2*3600))
		assertLastCancel(t, s, "daily", trainstore.Cancellation{})
		c := trainstore.Cancellation{At: dep, User: "ana", Reason: "release freeze"}
		if err := s.MarkCancel(ctx, "daily", c); err != nil {
			t.Fatal(err)
		}
		assertLastCancel(t, s, "daily", c)
		assertLastRun(t, s, "daily", trainstore.KindCancel, dep)
		assertLastCancel(t, s, "weekly", trainstore.Cancellation{})
		// Another departure called off by MarkRun alone, as an older
		// version did, is not said with the earlier one's reason.
		next := dep.Add(24 * time.Hour)
		if err := s.MarkRun(ctx, "daily", trainstore.KindCancel, next); err != nil {
			t.Fatal(err)
		}
		assertLastCancel(t, s, "daily", trainstore.Cancellation{At: next})
	})

	t.Run("concurrent boarding of a limited train", func(t *testing.T) {
		s := newStore(t)
		const apps, limit = 16, 10
		var wg sync.WaitGroup
		errc := make(chan error, apps)
		for i := range apps {
			wg.Go(func() {
				_, err := s.Board(t.Context(), "daily", car(fmt.Sprintf("app%02d", i), "1", "ana", i), limit, nil)
				errc <- err
			})
		}
		wg.Wait()
		close(errc)
		full := 0
		for err := range errc {
			switch {
			case err == nil:
			case errs.CodeOf(err) == errs.Conflict:
				full++
			default:
				t.Errorf("Board: %v", err)
			}
		}
		if n := len(mustCars(t, s, "daily")); n != limit || full != apps-limit {
			t.Errorf("racing %d boardings of a %d-car train: got %d cars aboard and %d refused, want %d and %d", apps, limit, n, full, limit, apps-limit)
		}
	})

	t.Run("leave while boarding", func(t *testing.T) {
		// A departure takes each car off the train in its turn while
		// others board: every car is taken once, whole.
		s := newStore(t)
		const apps = 32
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range apps {
				if _, err := s.Board(t.Context(), "daily", car(fmt.Sprintf("app%02d", i), "1", "ana", i), 0, nil); err != nil {
					t.Errorf("Board: %v", err)
				}
			}
		})
		deadline := time.Now().Add(10 * time.Second)
		for i := 0; i < apps; {
			want := car(fmt.Sprintf("app%02d", i), "1", "ana", i)
			got, err := s.Leave(t.Context(), "daily", want.App, "", time.Time{})
			switch {
			case errors.Is(err, deploy.ErrNotFound) && time.Now().Before(deadline):
				time.Sleep(time.Millisecond) // not aboard yet
			case err != nil:
				t.Fatalf("Leave(%s): %v", want.App, err)
			case got != want:
				t.Fatalf("Leave(%s): got %+v, want %+v", want.App, got, want)
			default:
				i++
			}
		}
		wg.Wait()
		assertCars(t, s, "daily")
	})

	t.Run("departures end each on its own", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		mon := trainstore.Departure{At: start}
		tue := trainstore.Departure{At: start.Add(24 * time.Hour)}
		early := trainstore.Departure{At: start, Early: true}
		for _, d := range []trainstore.Departure{tue, mon, early} {
			if err := s.StartDeparture(ctx, "daily", d); err != nil {
				t.Fatalf("StartDeparture(%s): %v", d.ID(), err)
			}
		}
		if err := s.StartDeparture(ctx, "weekly", mon); err != nil {
			t.Fatal(err)
		}
		assertUnended(t, s, "daily", mon, early, tue)
		assertLastRun(t, s, "daily", trainstore.KindDeparture, mon.At)
		assertLastRun(t, s, "daily", trainstore.KindEarly, early.At)
		// Tuesday's ends before Monday's, which a departure outwaited
		// by Monday's does: neither end replaces the other.
		mustEnd(t, s, "daily", tue)
		assertUnended(t, s, "daily", mon, early)
		mustEnd(t, s, "daily", mon)
		assertUnended(t, s, "daily", early)
		assertLastRun(t, s, "daily", trainstore.KindEnded, tue.At)
		mustEnd(t, s, "daily", early)
		assertUnended(t, s, "daily")
		assertLastRun(t, s, "daily", trainstore.KindEarlyEnded, early.At)
		// Ending one never started, or one again, is no error.
		mustEnd(t, s, "daily", trainstore.Departure{At: start.Add(-time.Hour)})
		mustEnd(t, s, "daily", mon)
		assertUnended(t, s, "daily")
		assertLastRun(t, s, "daily", trainstore.KindEnded, tue.At)
		assertUnended(t, s, "weekly", mon)
	})

	t.Run("old-shape records are one unended departure", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		// As versions before StartDeparture recorded them: the last of
		// each kind.
		mark := func(kind string, at time.Time) {
			t.Helper()
			if err := s.MarkRun(ctx, "daily", kind, at); err != nil {
				t.Fatal(err)
			}
		}
		mark(trainstore.KindDeparture, start)
		// No end recorded: a version that recorded none.
		assertUnended(t, s, "daily")
		mark(trainstore.KindEnded, start.Add(-24*time.Hour))
		old := trainstore.Departure{At: start}
		assertUnended(t, s, "daily", old)
		mark(trainstore.KindEarly, start.Add(time.Hour))
		oldEarly := trainstore.Departure{At: start.Add(time.Hour), Early: true}
		assertUnended(t, s, "daily", old, oldEarly)

		// A departure started, and one ended, after them keep them.
		next := trainstore.Departure{At: start.Add(24 * time.Hour)}
		if err := s.StartDeparture(ctx, "daily", next); err != nil {
			t.Fatal(err)
		}
		early := trainstore.Departure{At: start.Add(2 * time.Hour), Early: true}
		if err := s.StartDeparture(ctx, "daily", early); err != nil {
			t.Fatal(err)
		}
		assertUnended(t, s, "daily", old, oldEarly, early, next)
		mustEnd(t, s, "daily", next)
		mustEnd(t, s, "daily", early)
		assertUnended(t, s, "daily", old, oldEarly)
		mustEnd(t, s, "daily", old)
		mustEnd(t, s, "daily", oldEarly)
		assertUnended(t, s, "daily")
	})

	t.Run("an end keeps the old-shape departure it is not", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		for _, m := range []struct {
			kind string
			at   time.Time
		}{{trainstore.KindDeparture, start}, {trainstore.KindEnded, start.Add(-time.Hour)}} {
			if err := s.MarkRun(ctx, "daily", m.kind, m.at); err != nil {
				t.Fatal(err)
			}
		}
		// A later departure, missed, ends without having started.
		mustEnd(t, s, "daily", trainstore.Departure{At: start.Add(24 * time.Hour)})
		assertUnended(t, s, "daily", trainstore.Departure{At: start})
	})

	t.Run("concurrent starts and ends", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		const n = 8
		var wg sync.WaitGroup
		errc := make(chan error, 2*n)
		var want []trainstore.Departure
		for i := range n {
			d := trainstore.Departure{At: start.Add(time.Duration(i) * time.Hour), Early: i%2 == 1}
			if i%3 != 0 {
				want = append(want, d)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.StartDeparture(ctx, "daily", d); err != nil {
					errc <- err
					return
				}
				if i%3 == 0 {
					errc <- s.EndDeparture(ctx, "daily", d)
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatal(err)
			}
		}
		assertUnended(t, s, "daily", want...)
	})

	t.Run("cancelled context", func(t *testing.T) {
		s := newStore(t)
		mustBoard(t, s, "daily", car("accounting", "1", "alice", 0), 0)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		c := car("billing", "1", "bob", 1)
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"Board", func() error { _, err := s.Board(ctx, "daily", c, 0, nil); return err }},
			{"Leave", func() error { _, err := s.Leave(ctx, "daily", "accounting", "", time.Time{}); return err }},
			{"TakenOff", func() error { _, err := s.TakenOff(ctx, "daily", "accounting"); return err }},
			{"Cars", func() error { _, err := s.Cars(ctx, "daily"); return err }},
			{"ReturnCars", func() error { return s.ReturnCars(ctx, "daily", []trainstore.Car{c}) }},
			{"MarkRun", func() error { return s.MarkRun(ctx, "daily", trainstore.KindDeparture, start) }},
			{"LastRun", func() error { _, err := s.LastRun(ctx, "daily", trainstore.KindDeparture); return err }},
			{"StartDeparture", func() error { return s.StartDeparture(ctx, "daily", trainstore.Departure{At: start}) }},
			{"EndDeparture", func() error { return s.EndDeparture(ctx, "daily", trainstore.Departure{At: start}) }},
			{"Unended", func() error { _, err := s.Unended(ctx, "daily"); return err }},
		} {
			if err := tc.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context: got %v, want an error wrapping context.Canceled", tc.name, err)
			}
		}
		assertCars(t, s, "daily", car("accounting", "1", "alice", 0))
		assertLastRun(t, s, "daily", trainstore.KindDeparture, time.Time{})
		assertUnended(t, s, "daily")
	})
}

func mustEnd(t *testing.T, s trainstore.Store, name string, d trainstore.Departure) {
	t.Helper()
	if err := s.EndDeparture(t.Context(), name, d); err != nil {
		t.Fatalf("EndDeparture(%s, %s): %v", name, d.ID(), err)
	}
}

// assertUnended checks the unended departures of train name, in order.
func assertUnended(t *testing.T, s trainstore.Store, name string, want ...trainstore.Departure) {
	t.Helper()
	got, err := s.Unended(t.Context(), name)
	if err != nil {
		t.Fatalf("Unended(%s): %v", name, err)
	}
	ids := func(ds []trainstore.Departure) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID())
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Errorf("Unended(%s): got %q, want %q", name, ids(got), ids(want))
	}
}

// car returns a car boarded i minutes after start.
func car(app, build, user string, i int) trainstore.Car {
	return trainstore.Car{App: app, Build: build, Env: "production", User: user, Boarded: start.Add(time.Duration(i) * time.Minute)}
}

func assertTakenOff(t *testing.T, s trainstore.Store, name, app string, want trainstore.TakenOff) {
	t.Helper()
	got, err := s.TakenOff(t.Context(), name, app)
	if err != nil {
		t.Fatalf("TakenOff(%s, %s): %v", name, app, err)
	}
	if got.By != want.By || !got.At.Equal(want.At) {
		t.Errorf("TakenOff(%s, %s): got by %q at %v, want by %q at %v", name, app, got.By, got.At, want.By, want.At)
	}
	assertCar(t, got.Car, want.Car)
}

func mustBoard(t *testing.T, s trainstore.Store, name string, c trainstore.Car, maxCars int) {
	t.Helper()
	if _, err := s.Board(t.Context(), name, c, maxCars, nil); err != nil {
		t.Fatalf("Board(%s, %s %s): %v", name, c.App, c.Build, err)
	}
}

func mustCars(t *testing.T, s trainstore.Store, name string) []trainstore.Car {
	t.Helper()
	cars, err := s.Cars(t.Context(), name)
	if err != nil {
		t.Fatalf("Cars(%s): %v", name, err)
	}
	return cars
}

func assertCars(t *testing.T, s trainstore.Store, name string, want ...trainstore.Car) {
	t.Helper()
	assertCarList(t, "Cars("+name+")", mustCars(t, s, name), want...)
}

func assertCarList(t *testing.T, what string, got []trainstore.Car, want ...trainstore.Car) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d cars %+v, want %d %+v", what, len(got), got, len(want), want)
		return
	}
	for i := range want {
		assertCar(t, got[i], want[i])
	}
}

func assertCar(t *testing.T, got, want trainstore.Car) {
	t.Helper()
	if got.App != want.App || got.Build != want.Build || got.Env != want.Env || got.User != want.User || !got.Boarded.Equal(want.Boarded) {
		t.Errorf("car: got %+v, want %+v", got, want)
	}
}

func assertLastRun(t *testing.T, s trainstore.Store, name, kind string, want time.Time) {
	t.Helper()
	got, err := s.LastRun(t.Context(), name, kind)
	if err != nil {
		t.Fatalf("LastRun(%s, %s): %v", name, kind, err)
	}
	if !got.Equal(want) {
		t.Errorf("LastRun(%s, %s): got %v, want %v", name, kind, got, want)
	}
}

func assertLastCancel(t *testing.T, s trainstore.Store, name string, want trainstore.Cancellation) {
	t.Helper()
	got, err := s.LastCancel(t.Context(), name)
	if err != nil {
		t.Fatalf("LastCancel(%s): %v", name, err)
	}
	if !got.At.Equal(want.At) || got.User != want.User || got.Reason != want.Reason {
		t.Errorf("LastCancel(%s): got %+v, want %+v", name, got, want)
	}
}

func assertTrains(t *testing.T, s trainstore.Store, want ...string) {
	t.Helper()
	got, err := s.Trains(t.Context())
	if err != nil {
		t.Fatalf("Trains: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Trains: got %q, want %q", got, want)
	}
}
