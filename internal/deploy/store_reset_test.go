package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// countingStore counts the writes of final records the store refused
// because it was reset.
type countingStore struct {
	*redis.Store
	mu      sync.Mutex
	refused int
}

func (s *countingStore) PutRecord(ctx context.Context, r *deploy.Record) error {
	err := s.Store.PutRecord(ctx, r)
	if r.Outcome.Done() && errors.Is(err, deploy.ErrStoreReset) {
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
	}
	return err
}

// TestStoreResetMidDeploy: Redis loses its data while a deploy runs (a
// restart without persistence, a FLUSHALL). The store refuses every write
// from then on, until the bot restarts, so the run's final record is
// tried once: tried again for the final write's budget, it held the
// deploy's report back by minutes for a write that could not succeed.
// The report says what the store now shows of the run: nothing.
func TestStoreResetMidDeploy(t *testing.T) {
	srv := redisserver.Start(t)
	rs := redisStore(t, srv)
	st := &countingStore{Store: rs}
	gate := filepath.Join(t.TempDir(), "gate")
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, gatedRestart(gate)), func(o *deploy.Options) {
		o.Store, o.Leases, o.Locks = st, rs, rs
		o.FinalWriteBudget = 5 * time.Second
	})
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	done := f.deployUntilRestart("2")

	c := redisClient(t, srv)
	if err := c.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var rec *deploy.Record
	select {
	case rec = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the deploy did not end within a minute of its restart's end")
	}
	st.mu.Lock()
	refused := st.refused
	st.mu.Unlock()
	if refused != 1 {
		t.Errorf("final record writes the reset store refused: got %d, want 1 (a reset store refuses every write until the bot restarts)", refused)
	}
	if rec.Outcome != deploy.OutcomeInterrupted {
		t.Errorf("outcome: got %s, want interrupted", rec.Outcome)
	}
	for _, want := range []string{"could NOT be recorded", "the state store was reset", "will not show it", suggest.Command("status web")} {
		if !strings.Contains(rec.Error, want) {
			t.Errorf("error: got %q, want it to say %q", rec.Error, want)
		}
	}
	// A reset store holds no record of the run to show running, nor
	// will a recovery find one to report interrupted.
	for _, wrong := range []string{"show the deploy as still running", "once a recovery"} {
		if strings.Contains(rec.Error, wrong) {
			t.Errorf("error: got %q, which says %q of a store that lost every record", rec.Error, wrong)
		}
	}
}
