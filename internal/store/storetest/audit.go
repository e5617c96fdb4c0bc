package storetest

import (
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
)

func testAudit(t *testing.T, fresh freshFunc) {
	t.Run("append sets seq and time", func(t *testing.T) {
		s, clock := fresh(t)
		var last uint64
		for i := range 5 {
			e := &audit.Entry{User: "ana", Command: "/deploy accounting", Decision: audit.Allowed}
			mustAppend(t, s, e)
			if e.Seq <= last {
				t.Errorf("entry %d: got Seq %d, want more than %d", i, e.Seq, last)
			}
			last = e.Seq
			if !e.Time.Equal(clock.Now()) {
				t.Errorf("entry %d: got Time %v, want the store's clock %v", i, e.Time, clock.Now())
			}
			clock.Advance(time.Second)
		}
		at := start.Add(-time.Hour)
		e := &audit.Entry{Time: at, User: "ana", Command: "/lock accounting", Decision: audit.Refused}
		mustAppend(t, s, e)
		if !e.Time.Equal(at) {
			t.Errorf("entry with a time: got Time %v, want %v kept", e.Time, at)
		}
		if e.Seq <= last {
			t.Errorf("entry with a time: got Seq %d, want more than %d", e.Seq, last)
		}
	})

	t.Run("pending entry and its outcome", func(t *testing.T) {
		s, clock := fresh(t)
		done := &audit.Entry{User: "ana", Command: "lock deploys web prod", Action: "lock", App: "web", Env: "prod", Decision: audit.Allowed}
		if err := audit.Begin(t.Context(), s, done); err != nil {
			t.Fatal(err)
		}
		if done.Intent == 0 {
			t.Fatal("Begin: got no Intent, want the pending entry's Seq")
		}
		clock.Advance(time.Second)
		// A later pending entry, whose outcome never came.
		lost := &audit.Entry{User: "bob", Command: "deploy web 2", Action: "deploy", App: "web", Decision: audit.Allowed}
		if err := audit.Begin(t.Context(), s, lost); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		mustAppend(t, s, done)
		raw := mustAudit(t, s, audit.Query{App: "web"})
		// The outcome keeps its pending entry's time, so sorts right
		// before it, newest first.
		if len(raw) != 3 || raw[0].Decision != audit.Pending || raw[1].Intent != done.Intent || raw[2].Seq != done.Intent || raw[2].Decision != audit.Pending {
			t.Fatalf("Audit: got %+v, want the lost pending entry, the outcome naming its pending entry, that pending entry", raw)
		}
		got := audit.Fold(raw)
		if len(got) != 2 || got[0].User != "bob" || got[0].Decision != audit.Unknown || got[0].Reason != audit.UnknownReason ||
			got[1].Seq != done.Seq || got[1].Decision != audit.Allowed {
			t.Errorf("Fold: got %+v, want bob's deploy of unknown outcome, the outcome of ana's lock", got)
		}
	})

	t.Run("round trip", func(t *testing.T) {
		s, _ := fresh(t)
		want := audit.Entry{
			Time:     start.Add(time.Minute),
			User:     "ana",
			Platform: "discord",
			Channel:  "deploys",
			Command:  "/deploy accounting production 2025.03.14-1",
			Action:   "deploy",
			App:      "accounting",
			Env:      "production",
			Decision: audit.Allowed,
			Reason:   "granted by role deployers",
			DeployID: "d1",
		}
		e := want
		mustAppend(t, s, &e)
		want.Seq = e.Seq
		got := mustAudit(t, s, audit.Query{})
		if len(got) != 1 {
			t.Fatalf("Audit: got %d entries, want 1", len(got))
		}
		got[0].Time = got[0].Time.UTC()
		if !reflect.DeepEqual(got[0], want) {
			t.Errorf("Audit:\ngot  %+v\nwant %+v", got[0], want)
		}
	})

	t.Run("newest first", func(t *testing.T) {
		s, clock := fresh(t)
		appendAt(t, s, clock, "a", "accounting", 0)
		appendAt(t, s, clock, "b", "accounting", time.Minute)
		// Same instant as b: the later append is newer.
		appendAt(t, s, clock, "c", "accounting", 0)
		appendAt(t, s, clock, "d", "accounting", time.Minute)
		// Appended last, but says it happened first.
		mustAppend(t, s, &audit.Entry{Time: start.Add(-time.Hour), Command: "e", Decision: audit.Event})
		assertCommands(t, s, audit.Query{}, "d", "c", "b", "a", "e")
	})

	t.Run("filters", func(t *testing.T) {
		s, clock := fresh(t)
		appendAt(t, s, clock, "a1", "accounting", 0)
		appendAt(t, s, clock, "b1", "billing", time.Minute)
		appendAt(t, s, clock, "a2", "accounting", time.Minute)
		appendAt(t, s, clock, "x1", "", time.Minute)
		appendAt(t, s, clock, "a3", "accounting", time.Minute)
		appendAt(t, s, clock, "b2", "billing", time.Minute)
		since := start.Add(2 * time.Minute) // a2's time
		for _, tc := range []struct {
			name string
			q    audit.Query
			want []string
		}{
			{"all", audit.Query{}, []string{"b2", "a3", "x1", "a2", "b1", "a1"}},
			{"limit", audit.Query{Limit: 2}, []string{"b2", "a3"}},
			{"limit above count", audit.Query{Limit: 100}, []string{"b2", "a3", "x1", "a2", "b1", "a1"}},
			{"app", audit.Query{App: "accounting"}, []string{"a3", "a2", "a1"}},
			{"app limit", audit.Query{App: "billing", Limit: 1}, []string{"b2"}},
			{"since is inclusive", audit.Query{Since: since}, []string{"b2", "a3", "x1", "a2"}},
			{"since between entries", audit.Query{Since: since.Add(time.Second)}, []string{"b2", "a3", "x1"}},
			{"since app", audit.Query{Since: since, App: "accounting"}, []string{"a3", "a2"}},
			{"since app limit", audit.Query{Since: since, App: "accounting", Limit: 1}, []string{"a3"}},
			{"since after all", audit.Query{Since: start.Add(time.Hour)}, nil},
			{"no match", audit.Query{App: "payroll"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) { assertCommands(t, s, tc.q, tc.want...) })
		}
	})

	t.Run("concurrent appends", func(t *testing.T) {
		s, _ := fresh(t)
		const workers, each = 8, 25
		seqs := make(chan uint64, workers*each)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					e := &audit.Entry{User: "ana", Command: "/status", Decision: audit.Allowed}
					if err := s.AppendAudit(t.Context(), e); err != nil {
						t.Errorf("AppendAudit: %v", err)
						return
					}
					seqs <- e.Seq
				}
			})
		}
		wg.Wait()
		close(seqs)
		seen := make(map[uint64]bool)
		for seq := range seqs {
			if seen[seq] {
				t.Errorf("Seq %d assigned twice", seq)
			}
			seen[seq] = true
		}
		if got := len(mustAudit(t, s, audit.Query{})); got != workers*each {
			t.Errorf("Audit: got %d entries, want %d", got, workers*each)
		}
	})
}

// appendAt advances clock by d and appends an entry for app at that time,
// letting the store set the time.
func appendAt(t *testing.T, s Store, clock *Clock, command, app string, d time.Duration) {
	t.Helper()
	clock.Advance(d)
	mustAppend(t, s, &audit.Entry{User: "ana", Command: command, App: app, Decision: audit.Allowed})
}

func mustAppend(t *testing.T, s Store, e *audit.Entry) {
	t.Helper()
	if err := s.AppendAudit(t.Context(), e); err != nil {
		t.Fatalf("AppendAudit %q: %v", e.Command, err)
	}
}

func mustAudit(t *testing.T, s Store, q audit.Query) []audit.Entry {
	t.Helper()
	entries, err := s.Audit(t.Context(), q)
	if err != nil {
		t.Fatalf("Audit(%+v): %v", q, err)
	}
	return entries
}

func assertCommands(t *testing.T, s Store, q audit.Query, want ...string) {
	t.Helper()
	entries := mustAudit(t, s, q)
	got := make([]string, 0, len(entries))
	for _, e := range entries {
		got = append(got, e.Command)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Audit(%+v): got %q, want %q", q, got, want)
	}
}
