package embedded

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestHealthConditionStalled: a check of the store whose time runs out
// before the file answers (a read the disk holds, a write dropped behind
// one it holds, a check called out of time) names the store "stalled"
// for /healthz, not "unreachable", Redis's word for a network it cannot
// cross: the file is local.
func TestHealthConditionStalled(t *testing.T) {
	for _, tc := range []struct {
		name string
		// check checks s with ctx, whose time runs out while it waits.
		check func(t *testing.T, ctx context.Context, s *Store) error
	}{
		{"a read the disk holds", func(t *testing.T, ctx context.Context, s *Store) error {
			unstall := make(chan struct{})
			defer func() { close(unstall); waitAbandonedTx(t) }()
			return s.view(ctx, func(*bolt.Tx) error { <-unstall; return nil })
		}},
		{"a write dropped behind one the disk holds", func(t *testing.T, ctx context.Context, s *Store) error {
			stalled, err := s.db.Begin(true)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := stalled.Rollback(); err != nil {
					t.Errorf("Rollback: %v", err)
				}
				waitAbandonedTx(t)
			}()
			return s.PutLock(ctx, deploy.Lock{App: "web", Env: "prod", Owner: "ana"})
		}},
		{"a check out of time", func(t *testing.T, ctx context.Context, s *Store) error {
			<-ctx.Done()
			_, err := s.Locks(ctx)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, stalled := openStalled(t)
			if err := stalled.Rollback(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			err := tc.check(t, ctx, s)
			if err == nil {
				t.Fatal("the check succeeded; want it to fail as its time ran out")
			}
			if condition, reply := HealthCondition(err); condition != ConditionStalled || reply != "" {
				t.Errorf("HealthCondition(%v): got %q %q, want %q \"\"", err, condition, reply, ConditionStalled)
			}
		})
	}
}
