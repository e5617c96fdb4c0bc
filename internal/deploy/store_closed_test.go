package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// closedStore refuses the writes of final records as a store refuses
// every call once the bot closed it, and counts them.
type closedStore struct {
	deploy.Store
	mu      sync.Mutex
	refused int
}

func (s *closedStore) PutRecord(ctx context.Context, r *deploy.Record) error {
	if !r.Outcome.Done() {
		return s.Store.PutRecord(ctx, r)
	}
	s.mu.Lock()
	s.refused++
	s.mu.Unlock()
	return fmt.Errorf("state store state.db: %w", deploy.ErrStoreClosed)
}

// TestFinalRecordOnClosedStore: a stopping bot closes its store once the
// drain has run out, with a deploy still running. The store never opens
// again in this process, so the run's final record is tried once: tried
// again for the final write's budget, it held the deploy's end back for a
// write that could not succeed. The report says the outcome could not be
// recorded, and why.
func TestFinalRecordOnClosedStore(t *testing.T) {
	st := &closedStore{}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		st.Store = o.Store
		o.Store = st
		o.FinalWriteBudget = 5 * time.Second
	})
	f.build("1")
	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	st.mu.Lock()
	refused := st.refused
	st.mu.Unlock()
	if refused != 1 {
		t.Errorf("final record writes the closed store refused: got %d, want 1 (it never opens again)", refused)
	}
	for _, want := range []string{"could NOT be recorded", "its state store is closed", "`status web`"} {
		if !strings.Contains(rec.Error, want) {
			t.Errorf("final report: got %q, want it to say %q", rec.Error, want)
		}
	}
}
