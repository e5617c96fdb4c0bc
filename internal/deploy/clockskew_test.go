package deploy_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestDeployRefusedWhileClockSkewed: a replica whose clock is far from
// Redis's would write leases the others take for run out (or take one
// still held), so its deploys are refused, nothing changed, saying what
// to do; once its clock is back, it deploys.
func TestDeployRefusedWhileClockSkewed(t *testing.T) {
	srv := redisserver.Start(t)
	var offset atomic.Int64
	offset.Store(int64(-40 * time.Second))
	st, err := redis.Open(t.Context(), redis.Options{
		URL:          srv.URL(),
		Now:          func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
		MaxClockSkew: 30 * time.Second / 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) { o.Leases = st })
	f.build("1")
	req := deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}

	_, err = f.engine.Deploy(context.Background(), req, func(deploy.Event) {})
	// The measure is off by up to half a round trip to Redis, which a
	// loaded machine stretches.
	want := regexp.MustCompile(`^this replica's clock is ([0-9.]+s) behind the state store's \(Redis TIME\), more than the 7.5s allowed`)
	msg := errs.Message(err)
	m := want.FindStringSubmatch(msg)
	if err == nil || m == nil || !strings.Contains(msg, "chrony or ntp") {
		t.Fatalf("Deploy while skewed: got %v (message %q), want a message matching %q that says to sync the clock", err, msg, want)
	}
	if skew, perr := time.ParseDuration(m[1]); perr != nil || skew < 39*time.Second || skew > 41*time.Second {
		t.Fatalf("Deploy while skewed: message %q says the clock is %s behind, want 40s give or take a second", msg, m[1])
	}
	if f.exists("current") || f.exists("releases/1") {
		t.Fatal("the hosts were changed, although the clock is skewed")
	}

	offset.Store(0)
	if _, err := st.ClockSkew(t.Context()); err != nil {
		t.Fatal(err)
	}
	done := make(chan *deploy.Record, 1)
	if _, err := f.engine.Deploy(context.Background(), req, func(ev deploy.Event) {
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	}); err != nil {
		t.Fatalf("Deploy back in sync: got %v, want it to run", err)
	}
	select {
	case rec := <-done:
		if rec.Outcome != deploy.OutcomeSucceeded || f.link("current") != "releases/1" {
			t.Errorf("back in sync: got outcome %s, current %q; want %s, releases/1", rec.Outcome, f.link("current"), deploy.OutcomeSucceeded)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("back in sync: the deploy did not finish within 30s")
	}
}
