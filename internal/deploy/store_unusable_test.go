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

// unusableStore refuses the writes of final records as the embedded store
// refuses every call once it found its file damaged, and counts them.
type unusableStore struct {
	deploy.Store
	mu      sync.Mutex
	refused int
}

const unusableSays = "state store state.db is damaged: page 5: invalid page type: 0: stop the bot, then restore it from a backup"

func (s *unusableStore) PutRecord(ctx context.Context, r *deploy.Record) error {
	if !r.Outcome.Done() {
		return s.Store.PutRecord(ctx, r)
	}
	s.mu.Lock()
	s.refused++
	s.mu.Unlock()
	return fmt.Errorf("%s: %w", unusableSays, deploy.ErrStoreUnusable)
}

// TestFinalRecordOnUnusableStore: the embedded store's file is found
// damaged, or no longer mapped in memory, as a deploy ends. The store
// refuses every call from then on, until the file is restored or the bot
// restarted, so the run's final record is tried once: tried again for the
// final write's budget, it held the deploy's report back by minutes for
// a write that could not succeed. The report says the outcome could not
// be recorded, and the store's reason.
func TestFinalRecordOnUnusableStore(t *testing.T) {
	st := &unusableStore{}
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
		t.Errorf("final record writes the unusable store refused: got %d, want 1 (it refuses every call until someone acts on it)", refused)
	}
	for _, want := range []string{"could NOT be recorded", unusableSays, "refuses every read and write until it is repaired", "`status web`"} {
		if !strings.Contains(rec.Error, want) {
			t.Errorf("final report: got %q, want it to say %q", rec.Error, want)
		}
	}
	// Until it is repaired the store shows nothing of the run.
	if wrong := "`status` and `history` show the deploy as still running"; strings.Contains(rec.Error, wrong) {
		t.Errorf("final report: got %q, which says %q of a store that refuses every read", rec.Error, wrong)
	}
}
