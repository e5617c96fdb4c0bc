package storetest

import (
	"errors"
	"fmt"
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

		n, err = s.TrimRecords(t.Context(), start.Add(-30*day), 0)
		if err != nil || n != 3 {
			t.Errorf("TrimRecords keeping none: deleted %d, %v; want 3 (p1, s1, s2)", n, err)
		}
		assertIDs(t, s, deploy.Filter{}, "p6", "p5", "p2")
		if _, err := s.TrimRecords(t.Context(), start, -1); err == nil {
			t.Error("TrimRecords keeping -1: got nil error, want an error")
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
