package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// switchHook runs hook, once, before the write that records a host
// starting its switch to build 2: between the batch's fencing check and
// the switch itself.
type switchHook struct {
	*redis.Store
	once sync.Once
	hook func()
}

func (s *switchHook) PutRecord(ctx context.Context, r *deploy.Record) error {
	if h := r.Host("localhost"); r.Build == "2" && h != nil && h.State == deploy.HostActivating {
		s.once.Do(s.hook)
	}
	return s.Store.PutRecord(ctx, r)
}

// TestNoSwitchAfterTheLeaseIsGone: what the run learns while it records a
// host's switch, after the batch's fencing check, stops the switch. A
// store found reset by that write (Redis restarted without persistence)
// has lost the lease with its data, and a lease run out by the run's own
// clock while the write waited on a stalled Redis may be another
// replica's: either way the host is not switched. The switch runs under a
// context that ignores the run's cancel (a host is never left
// half-restarted), so only an explicit look at why the run stopped keeps
// it from switching a host the run no longer owns.
func TestNoSwitchAfterTheLeaseIsGone(t *testing.T) {
	const ttl = time.Second
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		// spoil runs before the switch's record write.
		spoil func(t *testing.T, srv *redisserver.Server)
	}{
		{
			name: "store reset",
			spoil: func(t *testing.T, srv *redisserver.Server) {
				if err := redisClient(t, srv).FlushAll(context.Background()).Err(); err != nil {
					t.Error(err)
				}
			},
		},
		{
			name: "lease ran out by the run's clock",
			ttl:  ttl,
			spoil: func(t *testing.T, srv *redisserver.Server) {
				// Redis answers nothing for three TTLs: no renewal is
				// confirmed, so the lease runs out by the run's clock,
				// and another replica may take it once Redis is back.
				srv.Pause()
				<-time.After(3 * ttl)
				srv.Resume()
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			t.Cleanup(srv.Resume)
			rs := redisStore(t, srv)
			st := &switchHook{Store: rs}
			st.hook = func() { tc.spoil(t, srv) }
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				o.Store, o.Leases, o.Locks = st, rs, rs
				if tc.ttl > 0 {
					o.LeaseTTL = tc.ttl
				}
				o.FinalWriteBudget = 5 * time.Second
			})
			f.build("1")
			f.build("2")
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			rec, err := f.runFor(deploy.KindDeploy, "2", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.link("current"); got != "releases/1" {
				t.Errorf("current: got %q, want releases/1: the host was switched after the run lost its lease", got)
			}
			if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
				t.Errorf("got outcome %s (%s), want interrupted, the deploy lease lost", rec.Outcome, rec.Error)
			}
			if h := rec.Host("localhost"); h == nil || h.State == deploy.HostActivating || h.State == deploy.HostActive {
				t.Errorf("host in the final record: got %+v, want it not switching", h)
			}
		})
	}
}
