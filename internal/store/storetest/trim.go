package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
)

func testTrim(t *testing.T, fresh freshFunc) {
	t.Run("records", func(t *testing.T) {
		s, _ := fresh(t)
		put := func(id, env string, age time.Duration, outcome deploy.Outcome) {
			r := sampleRecord(id, "accounting", env, start.Add(-age))
			r.Outcome = outcome
			mustPut(t, s, r)
		}
		day := 24 * time.Hour
		// production: two recent records, four old ones, one of them
		// still running; staging: two old ones, within keep.
		put("p1", "production", 40*day, deploy.OutcomeSucceeded)
		put("p2", "production", 39*day, deploy.OutcomeRunning)
		put("p3", "production", 38*day, deploy.OutcomeReverted)
		put("p4", "production", 37*day, deploy.OutcomeInterrupted)
		put("p5", "production", 2*day, deploy.OutcomeFailed)
		put("p6", "production", 1*day, deploy.OutcomeSucceeded)
		put("s1", "staging", 50*day, deploy.OutcomeSucceeded)
		put("s2", "staging", 49*day, deploy.OutcomeSucceeded)

		n, err := s.TrimRecords(t.Context(), start.Add(-30*day), 2)
		if err != nil {
			t.Fatalf("TrimRecords: %v", err)
		}
		if n != 3 {
			t.Errorf("TrimRecords: deleted %d, want 3 (p1, p3, p4)", n)
		}
		assertIDs(t, s, deploy.Filter{}, "p6", "p5", "p2", "s2", "s1")
		assertIDs(t, s, deploy.Filter{App: "accounting", Env: "production"}, "p6", "p5", "p2")
		assertIDs(t, s, deploy.Filter{Outcome: deploy.OutcomeRunning}, "p2")
		for _, id := range []string{"p1", "p3", "p4"} {
			if _, err := s.Record(t.Context(), id); !errors.Is(err, deploy.ErrNotFound) {
				t.Errorf("Record %s after trimming it: got %v, want deploy.ErrNotFound", id, err)
			}
		}
		// Trimmed records are gone from the index too: writing one again
		// lists it once.
		put("p1", "production", 40*day, deploy.OutcomeSucceeded)
		assertIDs(t, s, deploy.Filter{Env: "production"}, "p6", "p5", "p2", "p1")

		// s2 stays, the live run of staging.
		n, err = s.TrimRecords(t.Context(), start.Add(-30*day), 0)
		if err != nil || n != 2 {
			t.Errorf("TrimRecords keeping none: deleted %d, %v; want 2 (p1, s1)", n, err)
		}
		assertIDs(t, s, deploy.Filter{}, "p6", "p5", "p2", "s2")
		if _, err := s.TrimRecords(t.Context(), start, -1); err == nil {
			t.Error("TrimRecords keeping -1: got nil error, want an error")
		}
	})

	// status shows an interrupted run until a later run resolves it (see
	// deploy.Unresolved), however many runs since failed, reverted or
	// were cancelled: deleted, it would leave status saying nothing of
	// hosts that run different releases.
	t.Run("unresolved interrupted run", func(t *testing.T) {
		s, _ := fresh(t)
		day := 24 * time.Hour
		put := func(id, env string, age time.Duration, outcome deploy.Outcome) {
			r := sampleRecord(id, "accounting", env, start.Add(-age))
			r.Outcome = outcome
			mustPut(t, s, r)
		}
		// production: p2 is unresolved, p1 older than it.
		put("p1", "production", 50*day, deploy.OutcomeInterrupted)
		put("p2", "production", 45*day, deploy.OutcomeInterrupted)
		put("p3", "production", 40*day, deploy.OutcomeFailed)
		put("p4", "production", 39*day, deploy.OutcomeReverted)
		put("p5", "production", 38*day, deploy.OutcomeRunning)
		put("p6", "production", 1*day, deploy.OutcomeCancelled)
		// staging: s2 resolved s1; canary: c2 found every host on its release.
		put("s1", "staging", 50*day, deploy.OutcomeInterrupted)
		put("s2", "staging", 45*day, deploy.OutcomeSucceeded)
		put("s3", "staging", 40*day, deploy.OutcomePartial)
		put("c1", "canary", 50*day, deploy.OutcomeInterrupted)
		put("c2", "canary", 45*day, deploy.OutcomeUnchanged)
		put("c3", "canary", 40*day, deploy.OutcomeFailed)

		n, err := s.TrimRecords(t.Context(), start.Add(-30*day), 1)
		if err != nil {
			t.Fatalf("TrimRecords: %v", err)
		}
		// c2 stays as canary's live run.
		if n != 6 {
			t.Errorf("TrimRecords: deleted %d, want 6 (p1, p3, p4, s1, s2, c1)", n)
		}
		assertIDs(t, s, deploy.Filter{Env: "production"}, "p6", "p5", "p2")
		assertIDs(t, s, deploy.Filter{Env: "staging"}, "s3")
		assertIDs(t, s, deploy.Filter{Env: "canary"}, "c3", "c2")
	})

	// status, the alert and a rollback read the run that put what the
	// hosts run live (deploy.Live) and a record showing the release a
	// rollback from it goes to running once: however many runs since
	// changed no host (failed, cancelled, reverted), neither is deleted.
	t.Run("live run and its rollback's release", func(t *testing.T) {
		s, _ := fresh(t)
		day := 24 * time.Hour
		put := func(id, env string, age time.Duration, kind deploy.Kind, outcome deploy.Outcome, build, previous string, edit func(*deploy.Record)) {
			r := sampleRecord(id, "accounting", env, start.Add(-age))
			r.Kind, r.Outcome, r.Build, r.Previous, r.RollbackTo = kind, outcome, build, previous, ""
			if edit != nil {
				edit(r)
			}
			mustPut(t, s, r)
		}
		to := func(rel string) func(*deploy.Record) { return func(r *deploy.Record) { r.RollbackTo = rel } }
		// production: p3 is live; its rollback goes to 1, as 2 was
		// marked bad (p2's deploy of it failed on a host, say), and
		// p2 shows 1 running. A deploy still going passes over none.
		put("p1", "production", 60*day, deploy.KindDeploy, deploy.OutcomeSucceeded, "1", "", nil)
		put("p2", "production", 55*day, deploy.KindDeploy, deploy.OutcomeSucceeded, "2", "1", to("1"))
		put("p3", "production", 50*day, deploy.KindDeploy, deploy.OutcomeSucceeded, "3", "2", to("1"))
		for i, o := range []deploy.Outcome{deploy.OutcomeFailed, deploy.OutcomeCancelled, deploy.OutcomeReverted, deploy.OutcomeFailed} {
			put(fmt.Sprintf("p%d", 4+i), "production", time.Duration(40-i)*day, deploy.KindDeploy, o, "4", "3", nil)
		}
		put("p8", "production", day, deploy.KindDeploy, deploy.OutcomeRunning, "5", "3", nil)
		// staging: s4, a rollback from 3 to 2, is live; one from 2
		// goes to the release before it, 1, which s2 shows running.
		put("s1", "staging", 60*day, deploy.KindDeploy, deploy.OutcomeSucceeded, "1", "", nil)
		put("s2", "staging", 55*day, deploy.KindDeploy, deploy.OutcomeSucceeded, "2", "1", nil)
		put("s3", "staging", 54*day, deploy.KindDeploy, deploy.OutcomeSucceeded, "3", "2", nil)
		put("s4", "staging", 50*day, deploy.KindRollback, deploy.OutcomeSucceeded, "2", "3", nil)
		put("s5", "staging", 40*day, deploy.KindDeploy, deploy.OutcomeCancelled, "4", "2", nil)
		put("s6", "staging", 39*day, deploy.KindDeploy, deploy.OutcomeFailed, "4", "2", nil)
		// canary: c1 is live, and nothing to roll back to.
		put("c1", "canary", 50*day, deploy.KindDeploy, deploy.OutcomeSucceeded, "1", "", func(r *deploy.Record) { r.NoRollback = true })
		put("c2", "canary", 40*day, deploy.KindDeploy, deploy.OutcomeFailed, "2", "1", nil)

		n, err := s.TrimRecords(t.Context(), start.Add(-30*day), 1)
		if err != nil {
			t.Fatalf("TrimRecords: %v", err)
		}
		if n != 8 {
			t.Errorf("TrimRecords: deleted %d, want 8 (p1, p4, p5, p6, p7, s1, s3, s5)", n)
		}
		assertIDs(t, s, deploy.Filter{Env: "production"}, "p8", "p3", "p2")
		assertIDs(t, s, deploy.Filter{Env: "staging"}, "s6", "s4", "s2")
		assertIDs(t, s, deploy.Filter{Env: "canary"}, "c2", "c1")
		for env, want := range map[string]string{"production": "p3", "staging": "s4", "canary": "c1"} {
			recs, err := s.Records(t.Context(), deploy.Filter{App: "accounting", Env: env})
			if err != nil {
				t.Fatalf("Records %s: %v", env, err)
			}
			if env == "production" {
				recs = recs[1:] // as if p8 failed
			}
			if live, _, _ := deploy.Live(recs); live == nil || live.ID != want {
				t.Errorf("Live of %s after the trim: got %v, want %s", env, live, want)
			}
		}
	})

	t.Run("audit", func(t *testing.T) {
		s, clock := fresh(t)
		appendAt(t, s, clock, "deploy accounting 1", "accounting", 0)
		appendAt(t, s, clock, "deploy web 1", "web", time.Hour)
		cut := clock.Now().Add(time.Minute)
		appendAt(t, s, clock, "deploy accounting 2", "accounting", time.Hour)
		// An entry that says it happened before the cut, appended after
		// entries that did not.
		mustAppend(t, s, &audit.Entry{Time: cut.Add(-time.Second), User: "ana", Command: "late", Decision: audit.Allowed})
		n, err := s.TrimAudit(t.Context(), cut)
		if err != nil {
			t.Fatalf("TrimAudit: %v", err)
		}
		if n != 3 {
			t.Errorf("TrimAudit: deleted %d, want 3", n)
		}
		assertCommands(t, s, audit.Query{}, "deploy accounting 2")
		e := &audit.Entry{User: "ana", Command: "status", Decision: audit.Allowed}
		mustAppend(t, s, e)
		if e.Seq != 5 {
			t.Errorf("Seq after a trim: got %d, want 5", e.Seq)
		}
		assertCommands(t, s, audit.Query{}, "status", "deploy accounting 2")
		if n, err := s.TrimAudit(t.Context(), cut); err != nil || n != 0 {
			t.Errorf("TrimAudit again: deleted %d, %v; want 0", n, err)
		}
	})

	// Several apps and envs, every outcome, records started at the same
	// instant, more than a page of the Redis store's index: what stays is
	// what the rule says, however a store walks its index.
	//
	// Each trim keeps fewer than the one before; it leaves what it would
	// have left of the records before any trim, since every record that
	// one with a greater keep deleted is older than those it kept.
	t.Run("by rule", func(t *testing.T) {
		s, _ := fresh(t)
		cut := start.Add(-40 * time.Hour)
		recs := trimSample()
		for _, r := range recs {
			mustPut(t, s, r)
		}
		left := len(recs)
		for _, keep := range []int{200, 45, 2, 0} {
			want := trimByRule(recs, cut, keep)
			n, err := s.TrimRecords(t.Context(), cut, keep)
			if err != nil {
				t.Fatalf("TrimRecords keeping %d: %v", keep, err)
			}
			if n != left-len(want) {
				t.Errorf("TrimRecords keeping %d: deleted %d, want %d", keep, n, left-len(want))
			}
			assertIDs(t, s, deploy.Filter{}, want...)
			left = len(want)
		}
	})

	// More than a page of the Redis store's index.
	t.Run("many", func(t *testing.T) {
		s, clock := fresh(t)
		const many = 300
		for i := range many {
			mustPut(t, s, sampleRecord(fmt.Sprintf("d%03d", i), "accounting", "production", start.Add(time.Duration(i-many)*time.Hour)))
			mustAppend(t, s, &audit.Entry{Time: start.Add(time.Duration(i-many) * time.Hour), User: "ana", Command: fmt.Sprintf("c%03d", i), Decision: audit.Allowed})
		}
		clock.Advance(time.Hour)
		if n, err := s.TrimRecords(t.Context(), start, 10); err != nil || n != many-10 {
			t.Errorf("TrimRecords: deleted %d, %v; want %d", n, err, many-10)
		}
		assertIDs(t, s, deploy.Filter{Limit: 1}, fmt.Sprintf("d%03d", many-1))
		if recs, err := s.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 10 {
			t.Errorf("Records after trimming: %d, %v; want 10", len(recs), err)
		}
		if n, err := s.TrimAudit(t.Context(), start.Add(-10*time.Hour)); err != nil || n != many-10 {
			t.Errorf("TrimAudit: deleted %d, %v; want %d", n, err, many-10)
		}
		if got := mustAudit(t, s, audit.Query{}); len(got) != 10 || got[0].Command != fmt.Sprintf("c%03d", many-1) {
			t.Errorf("Audit after trimming: %d entries; want the newest 10", len(got))
		}
	})
}

// trimSample returns records of three app/envs, interleaved in time, of
// every outcome; every fifth started at the same instant as the one
// before it. One app/env has an interrupted run no later run resolved.
func trimSample() []*deploy.Record {
	outcomes := []deploy.Outcome{deploy.OutcomeSucceeded, deploy.OutcomeFailed, deploy.OutcomeReverted, deploy.OutcomeInterrupted}
	var recs []*deploy.Record
	for j, sc := range []struct {
		app, env string
		n        int
	}{{"accounting", "production", 140}, {"accounting", "staging", 80}, {"web", "production", 50}} {
		started := start.Add(-time.Duration(j) * 37 * time.Minute)
		for i := range sc.n {
			if i%5 != 4 {
				started = started.Add(-2 * time.Hour)
			}
			r := sampleRecord(fmt.Sprintf("%s-%s-%03d", sc.app, sc.env, i), sc.app, sc.env, started)
			r.Outcome = outcomes[i%len(outcomes)]
			if j == 2 && i < 34 && (r.Outcome == deploy.OutcomeSucceeded || r.Outcome == deploy.OutcomeInterrupted) {
				// Nothing since web-production-035, past every
				// cut, resolved it: it stays.
				r.Outcome = deploy.OutcomeFailed
			}
			if i%9 == 4 {
				r.Outcome = deploy.OutcomeRunning
			}
			recs = append(recs, r)
		}
	}
	return recs
}

// trimByRule returns the IDs of the records TrimRecords(cut, keep) leaves
// of recs, in the order Records lists them.
func trimByRule(recs []*deploy.Record, cut time.Time, keep int) []string {
	sorted := slices.Clone(recs)
	slices.SortFunc(sorted, func(a, b *deploy.Record) int {
		if c := b.Started.Compare(a.Started); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	seen := map[[2]string]int{}
	byScope := map[[2]string][]*deploy.Record{}
	for _, r := range sorted {
		scope := [2]string{r.App, r.Env}
		byScope[scope] = append(byScope[scope], r)
	}
	live := map[[2]string]*deploy.Retained{}
	var ids []string
	for _, r := range sorted {
		scope := [2]string{r.App, r.Env}
		stuck, _ := deploy.Unresolved(byScope[scope])
		k := live[scope]
		if k == nil {
			k = &deploy.Retained{}
			live[scope] = k
		}
		needed := k.Keep(r)
		if seen[scope]++; seen[scope] <= keep || !r.Started.Before(cut) || r.Outcome == deploy.OutcomeRunning || stuck == r || needed {
			ids = append(ids, r.ID)
		}
	}
	return ids
}
