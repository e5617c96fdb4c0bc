package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// storeGoesDown is a store whose writes fail from the first record down
// says is due on: a store lost mid-deploy, for good.
type storeGoesDown struct {
	deploy.Store
	down func(*deploy.Record) bool

	mu   sync.Mutex
	gone bool
}

func (s *storeGoesDown) PutRecord(ctx context.Context, r *deploy.Record) error {
	s.mu.Lock()
	s.gone = s.gone || s.down(r)
	gone := s.gone
	s.mu.Unlock()
	if gone {
		return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return s.Store.PutRecord(ctx, r)
}

// up brings the store back.
func (s *storeGoesDown) up() {
	s.mu.Lock()
	s.gone, s.down = false, func(*deploy.Record) bool { return false }
	s.mu.Unlock()
}

// TestUnrecordedOutcomeIsReported: a run whose final record cannot be
// written says so in its final report, with what `status` shows of it
// instead (running, then interrupted) and what to do; when earlier writes
// were given up too, it says the record may be incomplete. The report
// used to tell of the outcome as if it were recorded, and only a log line
// said otherwise.
func TestUnrecordedOutcomeIsReported(t *testing.T) {
	tests := []struct {
		name string
		down func(*deploy.Record) bool
		// stored is the state of localhost the store keeps.
		stored     deploy.HostState
		incomplete bool
	}{
		{"final write fails", func(r *deploy.Record) bool { return r.Outcome.Done() }, deploy.HostActive, false},
		{"store lost from the switch on", func(r *deploy.Record) bool {
			h := r.Host("localhost")
			return h != nil && h.State == deploy.HostActivating
		}, deploy.HostDelivered, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &storeGoesDown{down: tt.down}
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				store.Store = o.Store
				o.Store = store
				o.FinalWriteBudget = 300 * time.Millisecond
			})
			f.build("1")
			rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			for _, want := range []string{
				"could NOT be recorded", "connection refused",
				"`status` and `history` show the deploy as still running, then as interrupted",
				"check what each host runs with " + suggest.Command("status web"),
			} {
				if !strings.Contains(rec.Error, want) {
					t.Errorf("final report: got %q, want it to say %q", rec.Error, want)
				}
			}
			if got := strings.Contains(rec.Error, "may be incomplete"); got != tt.incomplete {
				t.Errorf("final report %q: says the record may be incomplete: got %v, want %v", rec.Error, got, tt.incomplete)
			}
			// What the report says status shows is what the store keeps.
			stored, err := f.store.Record(t.Context(), rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Outcome != deploy.OutcomeRunning {
				t.Errorf("stored outcome: got %s, want running", stored.Outcome)
			}
			if h := stored.Host("localhost"); h == nil || h.State != tt.stored {
				t.Errorf("stored localhost: got %+v, want %s", h, tt.stored)
			}
			store.up()
			got, err := f.engine.Recover(t.Context())
			if err != nil || len(got) != 1 || got[0].ID != rec.ID || got[0].Outcome != deploy.OutcomeInterrupted {
				t.Errorf("recover: got %v (%v), want the run interrupted", got, err)
			}
		})
	}
}
