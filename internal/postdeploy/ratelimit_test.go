package postdeploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// rateLimitedChat is a chat that rate limits the bot as the automatic
// rollback is announced: that post is answered only once the rollback
// has started, or after hold, the Retry-After of chat.postMessage's 429
// waited out.
type rateLimitedChat struct {
	out     *posts
	started chan struct{}
	hold    time.Duration
	late    atomic.Bool // the announcement answered before the rollback started
}

func (c *rateLimitedChat) Post(ctx context.Context, channel string, m chat.Message) error {
	if err := c.out.Post(ctx, channel, m); err != nil {
		return err
	}
	if !strings.Contains(strings.Join(m.Lines, "\n"), "rolling back now") {
		return nil
	}
	select {
	case <-c.started:
		return nil
	case <-time.After(c.hold):
		c.late.Store(true)
		return fmt.Errorf("chat.postMessage: rate limited")
	case <-ctx.Done():
		c.late.Store(true)
		return ctx.Err()
	}
}

// TestRateLimitedAnnouncementDoesNotHoldTheRollback: the announcement of
// an automatic rollback was posted before the rollback started, so a chat
// rate limiting the bot (a 429 whose Retry-After runs to 30 s) held the
// rollback that long while production's errors went on. The rollback
// starts as it is announced, and its end is still posted after the
// announcement.
func TestRateLimitedAnnouncementDoesNotHoldTheRollback(t *testing.T) {
	fs := newFakeSentry(t)
	dir := t.TempDir()
	yaml := fmt.Sprintf(`sentry: {url: %s, org: acme, token: sntrys_test}
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'true'
    environments:
      production:
        hosts: [localhost]
        channel: "#deploys"
        sentry: {project: web-backend, watch: 10m, interval: 1m, auto_rollback: true}
`, fs.srv.URL)
	cfg, st := webFixture(t, dir, yaml)
	clk := testclock.New(time.Now().Truncate(time.Minute))
	sc, err := sentry.New(sentry.Options{BaseURL: fs.srv.URL, Token: "sntrys_test"})
	if err != nil {
		t.Fatal(err)
	}
	out := &posts{}
	started := make(chan struct{})
	slack := &rateLimitedChat{out: out, started: started, hold: 5 * time.Second}
	var eng *deploy.Engine
	rb := &startSignal{rollbacker: rollbacker{&eng}, started: started}
	w := postdeploy.New(postdeploy.Options{Config: cfg, Sentry: sc, Notifier: slack, Audit: st, History: st,
		Rollback: rb, Now: clk.Now, Sleep: clk.Sleep,
		Channel: func(app, env string) string { return "#deploys" }})
	defer w.Close()
	eng = deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store: st, Leases: st, Locks: st, Now: clk.Now, Observers: []deploy.Sink{w.Observe}})
	run := func(build string) {
		t.Helper()
		mustDeploy(t, eng, deploy.Request{App: "web", Env: "production", Build: build, Requester: "ana"})
	}
	run("1")
	eng.Wait()
	w.Wait()
	fs.deployAt = clk.Now()
	fs.spiking.Store(true)
	run("2")
	w.Wait()
	eng.Wait()

	if slack.late.Load() {
		t.Error("the rollback started only once the rate-limited announcement was given up on, want it started without waiting for the chat")
	}
	if current, _ := os.Readlink(filepath.Join(dir, "srv/web/current")); current != "releases/1" {
		t.Errorf("current after the spike: got %q, want releases/1", current)
	}
	got := out.titles()
	announce := strings.Index(got, "auto_rollback is on for web/production: rolling back now")
	ended := strings.Index(got, "Rolled back web/production to 1 by itself (succeeded)")
	if announce < 0 || ended < 0 {
		t.Fatalf("posts: want the announcement and the end of the rollback:\n%s", got)
	}
	if announce > ended {
		t.Errorf("posts: got the rollback's end before its announcement, want the announcement first:\n%s", got)
	}
}
