package deploy_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// TestLeaseRenewalFindsStoreReset: Redis loses its data (a FLUSHALL, a
// restart without persistence) while a deploy delivers. The deploy's lease
// went with it, and the store refuses every call until the bot restarts:
// the renewal that finds the reset stops the run at once, cutting short
// the delivery, reported as a lost lease caused by the reset, rather than
// running on until the lease ran out by the bot's clock.
func TestLeaseRenewalFindsStoreReset(t *testing.T) {
	srv := redisserver.Start(t)
	var log syncbuf.Buffer
	f, gaveUp, done := stalledRedisDeploy(t, srv, 3*time.Second, func(o *deploy.Options) {
		o.Log = slog.New(slog.NewTextHandler(&log, nil))
	})
	c := redisClient(t, srv)
	if err := c.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gaveUp:
	case <-time.After(30 * time.Second):
		t.Fatal("delivery still running 30 s after the store was reset, with a lease TTL of 3 s")
	}
	var rec *deploy.Record
	select {
	case rec = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the deploy did not end within 30 s of its delivery's end")
	}
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
		t.Errorf("got outcome %s (%s), want interrupted, the deploy lease lost", rec.Outcome, rec.Error)
	}
	// Stopped by the renewal that found the reset, not by the lease
	// running out by this process's clock afterwards: the run's end, as
	// logged, gives its cause.
	var ended string
	for line := range strings.SplitSeq(log.String(), "\n") {
		if strings.Contains(line, `msg="deploy ended"`) {
			ended = line
		}
	}
	if !strings.Contains(ended, "lease lost: renew lease") || !strings.Contains(ended, "the state store was reset") || strings.Contains(log.String(), "not renewed since") {
		t.Errorf("log: got the run's end as %q, want it stopped by the renewal that found the store reset, not by a lease that ran out", ended)
	}
	if f.exists("current") {
		t.Error("current exists: the deploy switched without its lease")
	}
}
