package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestRecoverWithClockSkewed: a replica whose clock is off Redis's takes
// no lease, so its start-up recovery could take none either, and the bot
// refused to start while another replica deployed (its run is running in
// the store). It starts, and leaves the run, held, to its replica.
func TestRecoverWithClockSkewed(t *testing.T) {
	srv := redisserver.Start(t)
	other, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	run := &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "alice", Platform: "console", Channel: "console", Started: time.Now().Add(-time.Minute),
		Outcome: deploy.OutcomeRunning, Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating}}, Owner: "other:1"}
	l, err := other.Acquire(t.Context(), deploy.LeaseKey("web", "prod"), run.ID+" deploy", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	run.Fence = l.Token()
	if err := other.PutRecord(t.Context(), run); err != nil {
		t.Fatal(err)
	}

	storeNow = func() time.Time { return time.Now().Add(-time.Minute) }
	t.Cleanup(func() { storeNow = nil })
	sys := startSystem(t, writeWebConfig(t, t.TempDir(), fmt.Sprintf("store:\n  redis:\n    url: %s\n", srv.URL())))
	if err := sys.recover(t.Context()); err != nil {
		t.Fatalf("recover with the clock a minute behind: got %v, want nil (nothing recovered)", err)
	}
	rec, err := other.Record(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != deploy.OutcomeRunning {
		t.Errorf("the other replica's run: got outcome %s, want %s", rec.Outcome, deploy.OutcomeRunning)
	}
}
