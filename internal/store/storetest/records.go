package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

func testRecords(t *testing.T, fresh freshFunc) {
	t.Run("put and get", func(t *testing.T) {
		s, _ := fresh(t)
		r := sampleRecord("d1", "accounting", "production", start)
		mustPut(t, s, r)
		got, err := s.Record(t.Context(), "d1")
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
		assertRecord(t, got, r)
	})

	t.Run("mark undelivered", func(t *testing.T) {
		s, _ := fresh(t)
		r := sampleRecord("d1", "accounting", "production", start)
		r.Finished, r.Outcome = start.Add(2*time.Minute), deploy.OutcomeFailed
		mustPut(t, s, r)
		n := deploy.Undelivered{Platform: "discord", Channel: "345678901234567890",
			Reason: "post channel message: HTTP 403 Forbidden, Missing Access", At: start.Add(20 * time.Minute)}
		if err := s.MarkUndelivered(t.Context(), "d1", n); err != nil {
			t.Fatalf("MarkUndelivered: %v", err)
		}
		want := r.Clone()
		want.Undelivered = &n
		got, err := s.Record(t.Context(), "d1")
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
		assertRecord(t, got, want)
		// Listed as it was, with the note.
		listed, err := s.Records(t.Context(), deploy.Filter{App: "accounting", Outcome: deploy.OutcomeFailed})
		if err != nil || len(listed) != 1 {
			t.Fatalf("Records: got %d, %v; want d1", len(listed), err)
		}
		assertRecord(t, listed[0], want)
		// The run's own writes go on as before, fenced as before.
		mustPut(t, s, want)
		if err := s.MarkUndelivered(t.Context(), "d2", n); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("MarkUndelivered of no record: got %v, want an error wrapping deploy.ErrNotFound", err)
		}
	})

	t.Run("put replaces", func(t *testing.T) {
		s, _ := fresh(t)
		r := sampleRecord("d1", "accounting", "production", start)
		mustPut(t, s, r)
		r = r.Clone()
		r.Outcome = deploy.OutcomeReverted
		r.Finished = start.Add(3 * time.Minute)
		r.Error = "web-2: health check failed"
		r.Hosts[1].State = deploy.HostReverted
		mustPut(t, s, r)
		got, err := s.Record(t.Context(), "d1")
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
		assertRecord(t, got, r)
		assertIDs(t, s, deploy.Filter{}, "d1")
	})

	t.Run("fenced", func(t *testing.T) {
		s, _ := fresh(t)
		r := sampleRecord("d1", "accounting", "production", start) // fence 7
		mustPut(t, s, r)
		for _, fence := range []int64{6, 0} {
			stale := r.Clone()
			stale.Fence, stale.Outcome = fence, deploy.OutcomeSucceeded
			stale.Error = "written by a replica that lost its lease"
			err := s.PutRecord(t.Context(), stale)
			if !errors.Is(err, deploy.ErrLeaseLost) {
				t.Errorf("PutRecord with fence %d over fence 7: got %v, want an error wrapping deploy.ErrLeaseLost", fence, err)
			}
		}
		got, err := s.Record(t.Context(), "d1")
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
		assertRecord(t, got, r)
		newer := r.Clone()
		newer.Fence, newer.Outcome = 9, deploy.OutcomeInterrupted
		mustPut(t, s, newer)
		if got, err = s.Record(t.Context(), "d1"); err != nil {
			t.Fatalf("Record: %v", err)
		}
		assertRecord(t, got, newer)
		assertIDs(t, s, deploy.Filter{Outcome: deploy.OutcomeInterrupted}, "d1")
	})

	t.Run("fenced by the lease", func(t *testing.T) {
		// A replica runs d1 under its app+env's lease, which runs out;
		// recovery takes the lease and reads the record. Until recovery
		// writes, the first replica may write again: refused, or
		// recovery's write would replace what it never read.
		s, clock := fresh(t)
		key := deploy.LeaseKey("accounting", "production")
		old := mustAcquire(t, s, key, "d1 deploy of build 2025.03.14-1 by ana", leaseTTL)
		r := sampleRecord("d1", "accounting", "production", start)
		r.Outcome, r.Fence = deploy.OutcomeRunning, old.Token()
		mustPut(t, s, r)
		clock.Advance(leaseTTL + time.Second)
		recovery := mustAcquire(t, s, key, "recovery:d1", leaseTTL)
		for _, tc := range []struct {
			name string
			rec  *deploy.Record
		}{
			{"host state", func() *deploy.Record {
				w := r.Clone()
				w.Hosts[0].Switched = true
				return w
			}()},
			{"final", func() *deploy.Record {
				w := r.Clone()
				w.Outcome, w.Finished = deploy.OutcomeSucceeded, start.Add(time.Minute)
				return w
			}()},
			{"new record", func() *deploy.Record {
				w := sampleRecord("d2", "accounting", "production", start.Add(time.Minute))
				w.Fence = old.Token()
				return w
			}()},
		} {
			if err := s.PutRecord(t.Context(), tc.rec); !errors.Is(err, deploy.ErrLeaseLost) {
				t.Errorf("%s: PutRecord with fence %d once the lease handed out %d: got %v, want an error wrapping deploy.ErrLeaseLost",
					tc.name, old.Token(), recovery.Token(), err)
			}
		}
		got, err := s.Record(t.Context(), "d1")
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
		assertRecord(t, got, r)
		assertIDs(t, s, deploy.Filter{}, "d1")
		interrupted := got.Clone()
		interrupted.Outcome, interrupted.Fence = deploy.OutcomeInterrupted, recovery.Token()
		mustPut(t, s, interrupted)
		if got, err = s.Record(t.Context(), "d1"); err != nil {
			t.Fatalf("Record: %v", err)
		}
		assertRecord(t, got, interrupted)
		// Other app+envs keep their own fences.
		other := sampleRecord("d3", "accounting", "staging", start)
		other.Fence = 0
		mustPut(t, s, other)
	})

	t.Run("not found", func(t *testing.T) {
		s, _ := fresh(t)
		mustPut(t, s, sampleRecord("d1", "accounting", "production", start))
		_, err := s.Record(t.Context(), "d2")
		if !errors.Is(err, deploy.ErrNotFound) {
			t.Fatalf("Record of a missing id: got %v, want an error wrapping deploy.ErrNotFound", err)
		}
	})

	t.Run("no id", func(t *testing.T) {
		s, _ := fresh(t)
		if err := s.PutRecord(t.Context(), sampleRecord("", "accounting", "production", start)); err == nil {
			t.Fatal("PutRecord without an id: got nil error, want an error")
		}
	})

	t.Run("newest first", func(t *testing.T) {
		s, _ := fresh(t)
		// Put in an order that is neither ID nor time order. d3 and d5
		// start at the same instant: the larger ID comes first.
		for _, r := range []struct {
			id  string
			at  time.Duration
			app string
		}{
			{"d3", 2 * time.Minute, "a"},
			{"d1", 0, "a"},
			{"d5", 2 * time.Minute, "b"},
			{"d4", 3 * time.Minute, "b"},
			{"d2", time.Minute, "a"},
			{"d0", -24 * time.Hour, "a"},
		} {
			mustPut(t, s, sampleRecord(r.id, r.app, "production", start.Add(r.at)))
		}
		assertIDs(t, s, deploy.Filter{}, "d4", "d5", "d3", "d2", "d1", "d0")
	})

	t.Run("started changed", func(t *testing.T) {
		s, _ := fresh(t)
		for i, id := range []string{"d1", "d2", "d3"} {
			mustPut(t, s, sampleRecord(id, "a", "production", start.Add(time.Duration(i)*time.Minute)))
		}
		r, err := s.Record(t.Context(), "d1")
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
		r.Started = start.Add(time.Hour)
		mustPut(t, s, r)
		assertIDs(t, s, deploy.Filter{}, "d1", "d3", "d2")
		assertIDs(t, s, deploy.Filter{Limit: 1}, "d1")
		r.Started = start.Add(-time.Hour)
		r.Outcome = deploy.OutcomeFailed
		mustPut(t, s, r)
		assertIDs(t, s, deploy.Filter{}, "d3", "d2", "d1")
		assertIDs(t, s, deploy.Filter{Outcome: deploy.OutcomeFailed}, "d1")
		assertIDs(t, s, deploy.Filter{Outcome: deploy.OutcomeSucceeded}, "d3", "d2")
	})

	t.Run("filters", func(t *testing.T) {
		s, _ := fresh(t)
		for i, r := range []struct {
			id, app, env string
			outcome      deploy.Outcome
		}{
			{"d1", "accounting", "production", deploy.OutcomeSucceeded},
			{"d2", "accounting", "staging", deploy.OutcomeFailed},
			{"d3", "billing", "production", deploy.OutcomeSucceeded},
			{"d4", "accounting", "production", deploy.OutcomeReverted},
			{"d5", "billing", "staging", deploy.OutcomeRunning},
			{"d6", "accounting", "production", deploy.OutcomeSucceeded},
		} {
			rec := sampleRecord(r.id, r.app, r.env, start.Add(time.Duration(i)*time.Minute))
			rec.Outcome = r.outcome
			mustPut(t, s, rec)
		}
		for _, tc := range []struct {
			name string
			f    deploy.Filter
			want []string
		}{
			{"all", deploy.Filter{}, []string{"d6", "d5", "d4", "d3", "d2", "d1"}},
			{"limit", deploy.Filter{Limit: 2}, []string{"d6", "d5"}},
			{"limit above count", deploy.Filter{Limit: 10}, []string{"d6", "d5", "d4", "d3", "d2", "d1"}},
			{"app", deploy.Filter{App: "accounting"}, []string{"d6", "d4", "d2", "d1"}},
			{"env", deploy.Filter{Env: "staging"}, []string{"d5", "d2"}},
			{"app and env", deploy.Filter{App: "accounting", Env: "production"}, []string{"d6", "d4", "d1"}},
			{"app env limit", deploy.Filter{App: "accounting", Env: "production", Limit: 2}, []string{"d6", "d4"}},
			{"outcome", deploy.Filter{Outcome: deploy.OutcomeSucceeded}, []string{"d6", "d3", "d1"}},
			{"outcome limit", deploy.Filter{Outcome: deploy.OutcomeSucceeded, Limit: 1}, []string{"d6"}},
			{"app and outcome", deploy.Filter{App: "billing", Outcome: deploy.OutcomeRunning}, []string{"d5"}},
			{"no match", deploy.Filter{App: "payroll"}, nil},
			{"no match outcome", deploy.Filter{App: "billing", Outcome: deploy.OutcomeReverted}, nil},
			// Since keeps the records started at or after it: d3 started
			// at that very instant.
			{"since", deploy.Filter{Since: start.Add(2 * time.Minute)}, []string{"d6", "d5", "d4", "d3"}},
			{"since between", deploy.Filter{Since: start.Add(2*time.Minute + time.Nanosecond)}, []string{"d6", "d5", "d4"}},
			{"since app env", deploy.Filter{App: "accounting", Env: "production", Since: start.Add(2 * time.Minute)}, []string{"d6", "d4"}},
			{"since limit", deploy.Filter{Since: start, Limit: 2}, []string{"d6", "d5"}},
			{"since after all", deploy.Filter{Since: start.Add(time.Hour)}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) { assertIDs(t, s, tc.f, tc.want...) })
		}
	})

	t.Run("running", func(t *testing.T) {
		s, _ := fresh(t)
		// Running records among finished ones; r6 and r7 start at the
		// same instant.
		put := func(id, app, env string, at time.Duration, outcome deploy.Outcome) *deploy.Record {
			r := sampleRecord(id, app, env, start.Add(at))
			r.Outcome = outcome
			mustPut(t, s, r)
			return r
		}
		r1 := put("r1", "accounting", "production", 0, deploy.OutcomeRunning)
		r2 := put("r2", "accounting", "staging", time.Minute, deploy.OutcomeRunning)
		put("r3", "billing", "production", 2*time.Minute, deploy.OutcomeRunning)
		put("r4", "accounting", "production", 3*time.Minute, deploy.OutcomeSucceeded)
		r5 := put("r5", "accounting", "production", 4*time.Minute, deploy.OutcomeRunning)
		put("r6", "billing", "staging", 5*time.Minute, deploy.OutcomeRunning)
		put("r7", "billing", "staging", 5*time.Minute, deploy.OutcomeRunning)
		put("r8", "billing", "staging", 6*time.Minute, deploy.OutcomeFailed)
		running := func(app, env string, limit int) deploy.Filter {
			return deploy.Filter{App: app, Env: env, Limit: limit, Outcome: deploy.OutcomeRunning}
		}
		for _, tc := range []struct {
			name string
			f    deploy.Filter
			want []string
		}{
			{"all", running("", "", 0), []string{"r7", "r6", "r5", "r3", "r2", "r1"}},
			{"limit", running("", "", 3), []string{"r7", "r6", "r5"}},
			{"app", running("accounting", "", 0), []string{"r5", "r2", "r1"}},
			{"env", running("", "production", 0), []string{"r5", "r3", "r1"}},
			{"app and env", running("accounting", "production", 0), []string{"r5", "r1"}},
			{"app env limit", running("billing", "staging", 1), []string{"r7"}},
			{"no match", running("payroll", "", 0), nil},
			{"since", deploy.Filter{Outcome: deploy.OutcomeRunning, Since: start.Add(4 * time.Minute)}, []string{"r7", "r6", "r5"}},
		} {
			t.Run(tc.name, func(t *testing.T) { assertIDs(t, s, tc.f, tc.want...) })
		}

		// Finished, a record no longer lists as running, and lists with
		// its new outcome.
		r5.Outcome, r5.Finished = deploy.OutcomeFailed, start.Add(5*time.Minute)
		mustPut(t, s, r5)
		r1.Outcome = deploy.OutcomeSucceeded
		mustPut(t, s, r1)
		assertIDs(t, s, running("", "", 0), "r7", "r6", "r3", "r2")
		assertIDs(t, s, running("accounting", "production", 0))
		assertIDs(t, s, deploy.Filter{App: "accounting", Env: "production", Outcome: deploy.OutcomeFailed}, "r5")
		// Running with a new Started, a record lists once, where it now
		// sorts; so does one written again unchanged.
		r2.Started = start.Add(time.Hour)
		mustPut(t, s, r2)
		mustPut(t, s, r2)
		assertIDs(t, s, running("", "", 0), "r2", "r7", "r6", "r3")
		assertIDs(t, s, running("accounting", "", 0), "r2")
		// The store does not judge outcomes: put running again, a
		// finished record lists as running again.
		r1.Outcome = deploy.OutcomeRunning
		mustPut(t, s, r1)
		assertIDs(t, s, running("accounting", "production", 0), "r1")
	})

	t.Run("empty store", func(t *testing.T) {
		s, _ := fresh(t)
		assertIDs(t, s, deploy.Filter{})
		assertIDs(t, s, deploy.Filter{App: "accounting", Limit: 3})
	})

	t.Run("stored records are copies", func(t *testing.T) {
		s, _ := fresh(t)
		r := sampleRecord("d1", "accounting", "production", start)
		want := r.Clone()
		mustPut(t, s, r)
		// Change what was put, then what was returned: neither may reach
		// the store.
		r.Hosts[0].State = deploy.HostFailed
		r.Migrations[0] = "changed"
		r.App = "changed"
		got, err := s.Record(t.Context(), "d1")
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
		assertRecord(t, got, want)
		got.Hosts[0].State = deploy.HostFailed
		got.Migrations[0] = "changed"
		list, err := s.Records(t.Context(), deploy.Filter{})
		if err != nil {
			t.Fatalf("Records: %v", err)
		}
		list[0].Hosts[1].Error = "changed"
		got, err = s.Record(t.Context(), "d1")
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
		assertRecord(t, got, want)
	})
}

// sampleRecord returns a succeeded deploy of two hosts, every field set.
func sampleRecord(id, app, env string, started time.Time) *deploy.Record {
	return &deploy.Record{
		ID:         id,
		Kind:       deploy.KindDeploy,
		App:        app,
		Env:        env,
		Build:      "2025.03.14-1",
		Previous:   "2025.03.13-2",
		Requester:  "ana",
		Platform:   "slack",
		Channel:    "C123",
		Started:    started,
		Finished:   started.Add(90 * time.Second),
		Outcome:    deploy.OutcomeSucceeded,
		Forced:     "hotfix for INC-42",
		Migrations: []string{"0042_add_invoices.sql"},
		RollbackTo: "2025.03.13-2",
		Hosts: []deploy.HostResult{
			{Host: "web-1", State: deploy.HostActive, Current: "2025.03.14-1", Previous: "2025.03.13-2",
				Stopped: "deploy 20250314-120000-a1b2c3: 2 processes (sh, sleep)"},
			{Host: "web-2", State: deploy.HostActive, Current: "2025.03.14-1", Previous: "2025.03.13-2"},
		},
		Owner: "bot-1:4242",
		Fence: 7,
		Run:   "5f0c2a9e3b7d41c8a6e2f90d1b3c5a7e",
	}
}

func mustPut(t *testing.T, s Store, r *deploy.Record) {
	t.Helper()
	if err := s.PutRecord(t.Context(), r); err != nil {
		t.Fatalf("PutRecord %s: %v", r.ID, err)
	}
}

// assertIDs checks the IDs Records returns for f, in order.
func assertIDs(t *testing.T, s Store, f deploy.Filter, want ...string) {
	t.Helper()
	recs, err := s.Records(t.Context(), f)
	if err != nil {
		t.Fatalf("Records(%+v): %v", f, err)
	}
	got := make([]string, 0, len(recs))
	for _, r := range recs {
		got = append(got, r.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Records(%+v): got %v, want %v", f, got, want)
	}
}

func assertRecord(t *testing.T, got, want *deploy.Record) {
	t.Helper()
	g, w := comparableRecord(got), comparableRecord(want)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("record %s:\ngot  %s\nwant %s", want.ID, dump(g), dump(w))
	}
}

// comparableRecord returns a copy of r that compares equal to any faithful
// round trip of it: times in UTC without a monotonic reading, empty slices
// nil.
func comparableRecord(r *deploy.Record) *deploy.Record {
	c := r.Clone()
	c.Started = c.Started.UTC()
	c.Finished = c.Finished.UTC()
	if len(c.Hosts) == 0 {
		c.Hosts = nil
	}
	if len(c.Migrations) == 0 {
		c.Migrations = nil
	}
	if c.Undelivered != nil {
		c.Undelivered.At = c.Undelivered.At.UTC()
	}
	return c
}

func dump(v any) string { return fmt.Sprintf("%+v", v) }
