package retention_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/retention"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

var now = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// history returns a store holding a record and an audit entry of each of
// 10, 100 and 400 days ago.
func history(t *testing.T) *embedded.Store {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, days := range []int{400, 100, 10} {
		at := now.Add(-time.Duration(days) * 24 * time.Hour)
		id := at.Format("20060102")
		if err := st.PutRecord(t.Context(), &deploy.Record{ID: id, Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: id,
			Started: at, Finished: at.Add(time.Minute), Outcome: deploy.OutcomeSucceeded}); err != nil {
			t.Fatal(err)
		}
		if err := st.AppendAudit(t.Context(), &audit.Entry{Time: at, User: "ana", Command: "deploy web " + id, Decision: audit.Allowed}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestTrim(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		name           string
		records, audit time.Duration
		keep           int
		wantRecords    int
		wantCommands   []string // the audit trail afterwards, newest first
	}{
		{"forever", 0, 0, 100, 3, []string{"deploy web 20261124", "deploy web 20260826", "deploy web 20251030"}},
		{"records for 30 days", 30 * day, 0, 0, 1, []string{
			"retention: deleted 2 deploy records that started before 2026-11-04T12:00:00Z (the newest 0 of each app/env are kept, and the runs that status and rollbacks read)",
			"deploy web 20261124", "deploy web 20260826", "deploy web 20251030"}},
		{"records for 30 days, the newest 2 kept", 30 * day, 0, 2, 2, []string{
			"retention: deleted 1 deploy record that started before 2026-11-04T12:00:00Z (the newest 2 of each app/env are kept, and the runs that status and rollbacks read)",
			"deploy web 20261124", "deploy web 20260826", "deploy web 20251030"}},
		{"audit for a year", 0, 365 * day, 100, 3, []string{
			"retention: deleted 1 audit entry from before 2025-12-04T12:00:00Z",
			"deploy web 20261124", "deploy web 20260826"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := history(t)
			tr := &retention.Trimmer{Store: st, Records: tc.records, Audit: tc.audit, Keep: tc.keep, Now: func() time.Time { return now }}
			if err := tr.Trim(t.Context()); err != nil {
				t.Fatalf("Trim: %v", err)
			}
			recs, err := st.Records(t.Context(), deploy.Filter{})
			if err != nil || len(recs) != tc.wantRecords {
				t.Errorf("records after the trim: %d, %v; want %d", len(recs), err, tc.wantRecords)
			}
			entries, err := st.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Command)
			}
			if strings.Join(got, "\n") != strings.Join(tc.wantCommands, "\n") {
				t.Errorf("audit after the trim:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantCommands, "\n"))
			}
		})
	}
}

// counting counts the trims of the audit trail.
type counting struct {
	*embedded.Store
	trims atomic.Int32
}

func (c *counting) TrimAudit(ctx context.Context, before time.Time) (int, error) {
	c.trims.Add(1)
	return c.Store.TrimAudit(ctx, before)
}

// TestRunOncePerHourAcrossProcesses: of the processes sharing a store
// (replicas, or a bot restarted within the hour), one trims each hour.
func TestRunOncePerHourAcrossProcesses(t *testing.T) {
	st := &counting{Store: history(t)}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // each Run still asks once whether a trim is due, then ends
	for range 3 {
		tr := &retention.Trimmer{Store: st, Audit: 30 * 24 * time.Hour, Now: func() time.Time { return now }}
		wg.Go(func() {
			if err := tr.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	wg.Wait()
	if n := st.trims.Load(); n != 1 {
		t.Errorf("three processes sharing the store trimmed %d times, want once", n)
	}
	entries, err := st.Audit(t.Context(), audit.Query{})
	if err != nil || len(entries) != 2 || !strings.HasPrefix(entries[0].Command, "retention: deleted 2 audit entries") {
		t.Errorf("audit after the trim: %d entries, %v; want the newest and the trim's own", len(entries), err)
	}
}

// failing is a store whose trim of the audit trail fails: it deletes as
// the embedded store does (or not at all), then returns n and err, as a
// Redis store whose reply was lost, or that failed part-way, does.
type failing struct {
	*embedded.Store
	deletes bool
	n       int
	err     error
}

func (f *failing) TrimAudit(ctx context.Context, before time.Time) (int, error) {
	if f.deletes {
		if _, err := f.Store.TrimAudit(ctx, before); err != nil {
			return 0, err
		}
	}
	return f.n, f.err
}

// TestTrimFailed: a trim that failed, whatever it deleted, leaves an
// audit entry saying what happened, so that the trail explains entries
// missing from it.
func TestTrimFailed(t *testing.T) {
	lost := errs.New(errs.Unavailable, "%s", deploy.StoreUnreachable)
	full := errs.Wrap(errs.Unavailable, fmt.Errorf("trim audit: %w", deploy.ErrStoreFull), "state store full")
	for _, tc := range []struct {
		name         string
		deletes      bool
		n            int
		err          error
		wantCommand  string
		wantDecision audit.Decision
		wantReason   string
	}{
		{"reply lost", true, 0, lost,
			"retention: may have deleted audit entries from before 2025-12-04T12:00:00Z (the state store's reply was lost)", audit.Unknown,
			"past store.retention; the state store failed to confirm the deletion (state store unreachable); tried again in an hour"},
		{"reply lost after a batch", true, 1, lost,
			"retention: deleted 1 audit entry from before 2025-12-04T12:00:00Z, and may have deleted more (the state store's reply was lost)", audit.Unknown,
			"past store.retention; the state store failed to confirm the deletion (state store unreachable); tried again in an hour"},
		{"refused after a batch", true, 1, full,
			"retention: deleted 1 audit entry from before 2025-12-04T12:00:00Z, then failed", audit.Event,
			"past store.retention; the state store failed (state store full); tried again in an hour"},
		{"refused", false, 0, full,
			"retention: deleting audit entries from before 2025-12-04T12:00:00Z failed; none was deleted", audit.Event,
			"past store.retention; the state store failed (state store full); tried again in an hour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &failing{Store: history(t), deletes: tc.deletes, n: tc.n, err: tc.err}
			tr := &retention.Trimmer{Store: st, Audit: 365 * 24 * time.Hour, Now: func() time.Time { return now }}
			if err := tr.Trim(t.Context()); !errors.Is(err, tc.err) {
				t.Errorf("Trim: got %v, want %v", err, tc.err)
			}
			entries, err := st.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) == 0 {
				t.Fatal("no audit entries after the trim")
			}
			if entries[0].Command != tc.wantCommand || entries[0].Decision != tc.wantDecision || entries[0].Reason != tc.wantReason {
				t.Fatalf("newest audit entry: %+v\nwant command %q, decision %q, reason %q", entries[0], tc.wantCommand, tc.wantDecision, tc.wantReason)
			}
		})
	}
}

// TestTrimGivenUp: a trim the store gave up before it began (its context
// ended) deleted nothing, and the trail says so.
func TestTrimGivenUp(t *testing.T) {
	st := history(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tr := &retention.Trimmer{Store: st, Audit: 365 * 24 * time.Hour, Now: func() time.Time { return now }}
	if err := tr.Trim(ctx); !errors.Is(err, deploy.ErrStoreNotRun) {
		t.Errorf("Trim: got %v, want deploy.ErrStoreNotRun", err)
	}
	entries, err := st.Audit(t.Context(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	want := "retention: deleting audit entries from before 2025-12-04T12:00:00Z failed; none was deleted"
	if len(entries) != 4 || entries[0].Command != want {
		t.Errorf("audit after the trim: %d entries, the newest %+v; want 4, the newest %q", len(entries), entries[0], want)
	}
}
