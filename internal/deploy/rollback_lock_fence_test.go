package deploy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// takenOverOnLock hands the app+env's lease to another run just before
// the lock of a rollback is written, as a replica paused past its lease
// finds on waking.
type takenOverOnLock struct {
	*redis.Store
	take func()
}

func (s *takenOverOnLock) ReplaceLock(ctx context.Context, prev *deploy.Lock, next deploy.Lock) (*deploy.Lock, bool, error) {
	s.take()
	return s.Store.ReplaceLock(ctx, prev, next)
}

// TestRollbackLockFencedByLease: the lock a rollback leaves on its
// app+env is written under the rollback's lease. A rollback whose lease
// another run took over writes no lock behind that run's back, and
// touches no host.
func TestRollbackLockFencedByLease(t *testing.T) {
	srv := redisserver.Start(t)
	rs := redisStore(t, srv)
	c := redisClient(t, srv)
	armed := false
	locks := &takenOverOnLock{Store: rs, take: func() {
		if !armed {
			return
		}
		armed = false
		if err := c.Del(t.Context(), redis.DefaultPrefix+"lease:"+deploy.LeaseKey("web", "prod")).Err(); err != nil {
			t.Error(err)
		}
		if _, err := rs.Acquire(t.Context(), deploy.LeaseKey("web", "prod"), "9 deploy", time.Minute); err != nil {
			t.Error(err)
		}
	}}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Store, o.Leases, o.Locks = rs, rs, locks
	})
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)

	armed = true
	rec, err := f.run(deploy.KindRollback, "")
	if err == nil && rec.Outcome == deploy.OutcomeSucceeded {
		t.Errorf("rollback: got %s, want it stopped: its lease was taken over", rec.Outcome)
	}
	held, err := rs.Locks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 0 {
		t.Errorf("locks: got %+v, want none: the rollback lost its lease before it locked", held)
	}
	if c := f.link("current"); c != "releases/2" {
		t.Errorf("current -> %s, want releases/2: the rollback lost its lease before it switched", c)
	}
}
