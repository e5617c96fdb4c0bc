package postdeploy_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestWatchEndedByALaterRunThatChangedNothing: the start of deploy 2 ends
// the watch of build 1; 2 is then switched back, and 1 runs again with
// nothing watching it. The channel is told, not left to believe that
// auto_rollback still guards build 1.
func TestWatchEndedByALaterRunThatChangedNothing(t *testing.T) {
	tests := []struct {
		name    string
		restart string // the app's restart: fails for build 2 or not
		want    deploy.Outcome
		told    bool
	}{
		{name: "later deploy reverted", restart: `test "$SWITCHMAN_BUILD" != 2`, want: deploy.OutcomeReverted, told: true},
		{name: "later deploy succeeded", restart: "true", want: deploy.OutcomeSucceeded, told: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeSentry(t)
			dir := t.TempDir()
			yaml := fmt.Sprintf(`sentry: {url: %s, org: acme, token: sntrys_test}
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: '%s'
    environments:
      production:
        hosts: [localhost]
        channel: "#deploys"
        sentry: {project: web-backend, watch: 15m, interval: 1m, auto_rollback: true}
`, fs.srv.URL, tt.restart)
			f := newWatchFixture(t, dir, yaml, fs.srv.URL, nil)
			f.run(t, "1", deploy.OutcomeSucceeded)
			<-f.polled // the watch of build 1 waits for its first interval
			f.run(t, "2", tt.want)
			f.eng.Wait()
			if tt.told {
				f.awaitUnwatched() // the watch of 1 having ended
			}
			f.w.Close()
			got := f.out.titles()
			const want = "Error watch of web 1 on production ended: deploy 2 started and was reverted"
			if tt.told && !strings.Contains(got, want) {
				t.Errorf("posts lack %q:\n%s", want, got)
			}
			if !tt.told && strings.Contains(got, "Error watch of web 1 on production ended") {
				t.Errorf("posts tell of the watch of 1 ending, want nothing (2 is watched in turn):\n%s", got)
			}
		})
	}
}

// TestUnwatchedSaysSoUntilTheWatchWouldHaveEnded: the channel is told that
// a watch ended by a reverted deploy leaves its build unwatched for as
// long as that watch would have run: its intervals are aligned to the
// epoch, so with an interval of 10m and a watch of 25m it runs until the
// end of its third interval (and that interval's read), not 25m after the
// deploy finished. The bot's clock is set halfway between the two: the
// post must follow the watch's own end, and name it.
func TestUnwatchedSaysSoUntilTheWatchWouldHaveEnded(t *testing.T) {
	fs := newFakeSentry(t)
	dir := t.TempDir()
	yaml := fmt.Sprintf(`sentry: {url: %s, org: acme, token: sntrys_test}
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'test "$SWITCHMAN_BUILD" != 2'
    environments:
      production:
        hosts: [localhost]
        channel: "#deploys"
        sentry: {project: web-backend, watch: 25m, interval: 10m, consecutive: 2, auto_rollback: true}
`, fs.srv.URL)
	var offset atomic.Int64 // added to the bot's clock once deploy 2 is to start
	f := newWatchFixture(t, dir, yaml, fs.srv.URL, func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })
	first := f.run(t, "1", deploy.OutcomeSucceeded)
	<-f.polled
	_, _, last := sentry.Policy{Interval: 10 * time.Minute, Watch: 25 * time.Minute}.Schedule(first.Finished)
	naive := first.Finished.Add(25 * time.Minute)
	now := last.Add(naive.Sub(last) / 2)
	offset.Store(int64(now.Sub(time.Now())))
	told := now.Before(last)
	f.run(t, "2", deploy.OutcomeReverted)
	f.eng.Wait()
	if told {
		f.awaitUnwatched()
	}
	f.w.Close()
	got := f.out.titles()
	const ended = "Error watch of web 1 on production ended: deploy 2 started and was reverted"
	switch {
	case told && !strings.Contains(got, ended):
		t.Errorf("the watch was to run until %s UTC, the clock says %s UTC: posts lack %q:\n%s", last.UTC().Format("15:04:05"), now.UTC().Format("15:04:05"), ended, got)
	case told && !strings.Contains(got, "until "+last.UTC().Format("15:04")+" UTC"):
		t.Errorf("posts do not say the watch was to run until %s UTC:\n%s", last.UTC().Format("15:04"), got)
	case !told && strings.Contains(got, ended):
		t.Errorf("the watch was over at %s UTC, the clock says %s UTC: want no post of it ending:\n%s", last.UTC().Format("15:04:05"), now.UTC().Format("15:04:05"), got)
	}
}

// watchFixture is an engine deploying web over the local transport, with
// a watcher on it whose watch waits for its next interval until it is
// ended (real time, and Sentry a fake): the watch of a build runs when
// the next deploy starts.
type watchFixture struct {
	eng *deploy.Engine
	w   *postdeploy.Watcher
	out *posts
	// polled gets a value once a watch waits for its next interval.
	polled chan struct{}
}

// newWatchFixture loads yaml (see webFixture) into dir; now, if set, is
// the watcher's clock.
func newWatchFixture(t *testing.T, dir, yaml, sentryURL string, now func() time.Time) *watchFixture {
	t.Helper()
	cfg, st := webFixture(t, dir, yaml)
	sc, err := sentry.New(sentry.Options{BaseURL: sentryURL, Token: "sntrys_test"})
	if err != nil {
		t.Fatal(err)
	}
	f := &watchFixture{out: &posts{}, polled: make(chan struct{}, 1)}
	f.w = postdeploy.New(postdeploy.Options{Config: cfg, Sentry: sc, Notifier: f.out, Audit: st, History: st,
		Rollback: rollbacker{&f.eng},
		Now:      now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			select {
			case f.polled <- struct{}{}:
			default:
			}
			<-ctx.Done()
			return ctx.Err()
		},
		Channel: func(app, env string) string { return "#deploys" }})
	t.Cleanup(f.w.Close)
	f.eng = deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store: st, Leases: st, Locks: st, Observers: []deploy.Sink{f.w.Observe}})
	return f
}

// run deploys build of web to production and fails t unless it ends as
// want.
func (f *watchFixture) run(t *testing.T, build string, want deploy.Outcome) *deploy.Record {
	t.Helper()
	rec := finished(t, f.eng, deploy.Request{App: "web", Env: "production", Build: build, Requester: "ana"})
	if rec.Outcome != want {
		t.Fatalf("deploy %s: got %s (%s), want %s", build, rec.Outcome, rec.Error, want)
	}
	return rec
}

// awaitUnwatched waits, up to 30 s, for the post that says nothing watches
// a build any more; the caller checks what was posted.
func (f *watchFixture) awaitUnwatched() {
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(f.out.titles(), "nothing watches") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
