package deploy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// errStoreTimeout is a store read that timed out.
var errStoreTimeout = errors.New("read lease: i/o timeout")

// failingEnvLeases refuses web/prod's lease for a skewed clock, as a Redis
// store does, and times out taking api/prod's, once both are asked for:
// both app+envs' recoveries are under way when either fails.
type failingEnvLeases struct {
	deploy.Leaser
	mu    sync.Mutex
	asked int
	both  chan struct{}
	alone bool
}

func (l *failingEnvLeases) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	var fail error
	switch key {
	case deploy.LeaseKey("web", "prod"):
		fail = &errs.Error{Code: errs.Unavailable, Msg: "this replica's clock is 1m0s behind the state store's", Err: deploy.ErrClockSkew}
	case deploy.LeaseKey("api", "prod"):
		fail = errStoreTimeout
	default:
		return l.Leaser.Acquire(ctx, key, holder, ttl)
	}
	l.mu.Lock()
	l.asked++
	if l.asked == 2 {
		close(l.both)
	}
	l.mu.Unlock()
	select {
	case <-l.both:
	case <-time.After(10 * time.Second):
		l.mu.Lock()
		l.alone = true // the other was never asked for: the test says so
		l.mu.Unlock()
	}
	return nil, fail
}

// TestRecoverReturnsEveryEnvsFailure: the recoveries of two app+envs
// fail at once, one for a skewed clock and one for a store timeout.
// Recover returned only the first, so the other failure reached no log,
// and a caller that lets a skewed clock pass started as if nothing else
// had failed. Both are returned.
func TestRecoverReturnsEveryEnvsFailure(t *testing.T) {
	leases := &failingEnvLeases{both: make(chan struct{})}
	f := newFixtureWith(t, twoAppsYAML, func(o *deploy.Options) {
		leases.Leaser = o.Leases
		o.Leases = leases
	})
	ctx := context.Background()
	for _, app := range []string{"web", "api"} {
		if err := f.store.PutRecord(ctx, &deploy.Record{ID: "20260101-000000-" + app, Kind: deploy.KindDeploy, App: app, Env: "prod",
			Build: "2", Requester: "ana", Owner: "gone:1", Started: time.Now().Add(-time.Minute), Outcome: deploy.OutcomeRunning,
			Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating}}}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := f.engine.Recover(ctx)
	if leases.alone {
		t.Fatal("only one app+env's lease was asked for: want both recoveries under way at once")
	}
	if len(recs) != 0 {
		t.Errorf("recovered: got %d records, want none", len(recs))
	}
	if !errors.Is(err, deploy.ErrClockSkew) || !errors.Is(err, errStoreTimeout) {
		t.Fatalf("recover: got %v, want both the clock's refusal and the store's timeout", err)
	}
	for _, id := range []string{"20260101-000000-web", "20260101-000000-api"} {
		if !strings.Contains(err.Error(), "recover "+id+":") {
			t.Errorf("recover: got %q, want it to name %s", err, id)
		}
	}
}

// twoAppsYAML is web and api, each with a prod on the local host.
const twoAppsYAML = `apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
  api:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/api
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
`
