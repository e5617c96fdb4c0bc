package deploy_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestLeaseRunsOutWhileTheStoreStalls: a deploy whose lease renewals get
// no answer for the lease's TTL (Redis stopped, cut off, failing over) has
// lost its lease by its own clock: another replica may hold the app+env
// and deploy it. It stops there, cutting short the delivery it is in,
// rather than at its next fencing check, which a long delivery reaches
// minutes later; and it ends interrupted, with nothing switched.
func TestLeaseRunsOutWhileTheStoreStalls(t *testing.T) {
	srv := redisserver.Start(t)
	f, gaveUp, done := stalledRedisDeploy(t, srv, time.Second, nil)
	srv.Pause()
	t.Cleanup(srv.Resume)
	select {
	case <-gaveUp:
	case <-time.After(15 * time.Second):
		t.Fatal("delivery still running 15 s after Redis stopped answering, with a lease TTL of 1 s: the deploy went on past its lease")
	}
	srv.Resume()
	var rec *deploy.Record
	select {
	case rec = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the deploy did not end within 30 s of Redis answering again")
	}
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
		t.Errorf("got outcome %s (%s), want interrupted, the deploy lease lost", rec.Outcome, rec.Error)
	}
	if f.exists("current") {
		t.Error("current exists: the deploy switched without its lease")
	}
}

// stalledRedisDeploy starts a deploy of build 1 of web/prod under leases
// kept in srv's Redis, with lease_ttl ttl and opt's further options (nil:
// none), whose delivery stalls on the artifact server, and returns once the
// delivery has started: gaveUp is closed when the deploy cuts the delivery
// short, done gets the record it ends with.
func stalledRedisDeploy(t *testing.T, srv *redisserver.Server, ttl time.Duration, opt func(*deploy.Options)) (f *fixture, gaveUp <-chan struct{}, done <-chan *deploy.Record) {
	t.Helper()
	leases, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leases.Close() })
	art := newArtifactStore(t)
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "      path: artifacts/{app}-{build}.tar.gz\n", "      "+art.url()+"\n", 1)
	f = newFixtureWith(t, yaml, func(o *deploy.Options) {
		o.Leases = leases
		o.LeaseTTL = ttl
		if opt != nil {
			opt(o)
		}
	})
	cut, stalled := stall(t)
	cutShort := make(chan struct{})
	var once sync.Once
	art.serveFrom(f.arts, func(w http.ResponseWriter, r *http.Request) {
		cut(w, r)
		if r.Context().Err() != nil {
			once.Do(func() { close(cutShort) })
		}
	})
	f.bigBuild("1", 2<<20)

	ended := make(chan *deploy.Record, 1)
	sink := func(ev deploy.Event) {
		if ev.Kind == deploy.EventFinished {
			ended <- ev.Record
		}
	}
	req := deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}
	if _, err := f.engine.Deploy(context.Background(), req, sink); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stalled:
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery did not start within 30 s")
	}
	return f, cutShort, ended
}
