package embedded_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestListingCostsWhatItReturns checks that a listing of one app/env, or
// of one app's audit entries, does not allocate for every entry of the
// others it walks past: 2,000 newer ones of another app here, where a
// listing allocated about three strings (records) or a decoded entry
// (audit) for each of them.
func TestListingCostsWhatItReturns(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, filepath.Join(t.TempDir(), "switchman.db"), nil)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	put := func(i int, app string) {
		t.Helper()
		at := start.Add(time.Duration(i) * time.Minute)
		r := &deploy.Record{ID: fmt.Sprintf("d%05d", i), Kind: deploy.KindDeploy, App: app, Env: "production", Build: "1", Started: at, Finished: at, Outcome: deploy.OutcomeSucceeded}
		if err := s.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendAudit(ctx, &audit.Entry{Time: at, User: "ana", Command: "deploy " + app, Action: "deploy", App: app, Env: "production", Decision: audit.Allowed}); err != nil {
			t.Fatal(err)
		}
	}
	put(0, "rare")
	for i := 1; i <= 2000; i++ {
		put(i, "busy")
	}
	for _, tc := range []struct {
		name string
		list func() (int, error)
	}{
		{"records", func() (int, error) {
			recs, err := s.Records(ctx, deploy.Filter{App: "rare", Env: "production", Limit: 1})
			return len(recs), err
		}},
		{"audit", func() (int, error) {
			es, err := s.Audit(ctx, audit.Query{App: "rare", Limit: 1})
			return len(es), err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var listErr error
			allocs := testing.AllocsPerRun(5, func() {
				n, err := tc.list()
				if err == nil && n != 1 {
					err = fmt.Errorf("listed %d, want 1", n)
				}
				if err != nil {
					listErr = err
				}
			})
			if listErr != nil {
				t.Fatal(listErr)
			}
			// What the one match and the transaction cost, with room;
			// an allocation per entry walked past is 2,000 more.
			if allocs > 500 {
				t.Errorf("got %.0f allocations per listing, want at most 500", allocs)
			}
		})
	}
}
