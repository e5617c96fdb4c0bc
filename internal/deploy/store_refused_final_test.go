package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// finalRefused refuses the writes of final records with err, as a store
// refuses every call once it is in that state, and counts them.
type finalRefused struct {
	deploy.Store
	err     error
	mu      sync.Mutex
	refused int
}

func (s *finalRefused) PutRecord(ctx context.Context, r *deploy.Record) error {
	if !r.Outcome.Done() {
		return s.Store.PutRecord(ctx, r)
	}
	s.mu.Lock()
	s.refused++
	s.mu.Unlock()
	return s.err
}

const unusableSays = "state store state.db is damaged: page 5: invalid page type: 0: stop the bot, then restore it from a backup"

// TestFinalRecordOnAStoreThatStaysRefusing: a store that refuses every
// call until someone acts on it gets the run's final record once. Tried
// again for the final write's budget, it held the deploy's report back
// by minutes for a write that could not succeed:
//   - unusable: the embedded store's file is found damaged, or no longer
//     mapped in memory, as a deploy ends; it stays so until the file is
//     restored or the bot restarted.
//   - closed: a stopping bot closes its store once the drain has run
//     out, with a deploy still running; it never opens again in this
//     process.
//
// The report says the outcome could not be recorded, and why.
func TestFinalRecordOnAStoreThatStaysRefusing(t *testing.T) {
	tests := []struct {
		name string
		err  error
		// want: what the report says; wrong: what it must not.
		want  []string
		wrong string
	}{
		{"unusable", fmt.Errorf("%s: %w", unusableSays, deploy.ErrStoreUnusable),
			[]string{"could NOT be recorded", unusableSays, "refuses every read and write until it is repaired", suggest.Command("status web")},
			// Until it is repaired the store shows nothing of the run.
			"`status` and `history` show the deploy as still running"},
		{"closed", fmt.Errorf("state store state.db: %w", deploy.ErrStoreClosed),
			[]string{"could NOT be recorded", "its state store is closed", suggest.Command("status web")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &finalRefused{err: tt.err}
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
				t.Errorf("final record writes the store refused: got %d, want 1 (it refuses every call until someone acts on it)", refused)
			}
			for _, want := range tt.want {
				if !strings.Contains(rec.Error, want) {
					t.Errorf("final report: got %q, want it to say %q", rec.Error, want)
				}
			}
			if tt.wrong != "" && strings.Contains(rec.Error, tt.wrong) {
				t.Errorf("final report: got %q, which says %q of a store that refuses every read", rec.Error, tt.wrong)
			}
		})
	}
}
