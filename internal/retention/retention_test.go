package retention_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
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
			"retention: deleted 2 deploy records that started before 2026-11-04T12:00:00Z (the newest 0 of each app/env are kept)",
			"deploy web 20261124", "deploy web 20260826", "deploy web 20251030"}},
		{"records for 30 days, the newest 2 kept", 30 * day, 0, 2, 2, []string{
			"retention: deleted 1 deploy record that started before 2026-11-04T12:00:00Z (the newest 2 of each app/env are kept)",
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

// TestRunOnTheLeaderOnly: of several replicas, only the leader trims.
func TestRunOnTheLeaderOnly(t *testing.T) {
	for _, leader := range []bool{false, true} {
		st := history(t)
		tr := &retention.Trimmer{Store: st, Audit: 30 * 24 * time.Hour, Now: func() time.Time { return now },
			Leader: func() bool { return leader }}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- tr.Run(ctx) }()
		// Run trims at once: the leader's trim is waited for; the other
		// replica is given as long as the leader needs many times over.
		want := 3
		if leader {
			want = 2 // one left, and the trim's own entry
		}
		var n int
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			entries, err := st.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if n = len(entries); leader && n == want {
				break
			}
			if !leader && time.Until(deadline) < 4500*time.Millisecond {
				break
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if n != want {
			t.Errorf("leader %v: %d audit entries after Run; want %d", leader, n, want)
		}
	}
}
