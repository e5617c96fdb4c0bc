package postdeploy_test

import (
	"context"
	"fmt"
	"strings"
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
			cfg, st := webFixture(t, dir, yaml)
			sc, err := sentry.New(sentry.Options{BaseURL: fs.srv.URL, Token: "sntrys_test"})
			if err != nil {
				t.Fatal(err)
			}
			out := &posts{}
			var eng *deploy.Engine
			// Real time, and a watch that waits for its next interval
			// until it is ended: the watch of build 1 runs when 2 starts.
			polled := make(chan struct{}, 1)
			w := postdeploy.New(postdeploy.Options{Config: cfg, Sentry: sc, Notifier: out, Audit: st, History: st,
				Rollback: rollbacker{&eng},
				Sleep: func(ctx context.Context, d time.Duration) error {
					select {
					case polled <- struct{}{}:
					default:
					}
					<-ctx.Done()
					return ctx.Err()
				},
				Channel: func(app, env string) string { return "#deploys" }})
			defer w.Close()
			eng = deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
				Store: st, Leases: st, Locks: st, Observers: []deploy.Sink{w.Observe}})
			run := func(build string, want deploy.Outcome) {
				t.Helper()
				done := make(chan *deploy.Record, 1)
				if _, err := eng.Deploy(context.Background(), deploy.Request{App: "web", Env: "production", Build: build, Requester: "ana"}, func(ev deploy.Event) {
					if ev.Kind == deploy.EventFinished {
						done <- ev.Record
					}
				}); err != nil {
					t.Fatal(err)
				}
				if rec := <-done; rec.Outcome != want {
					t.Fatalf("deploy %s: got %s (%s), want %s", build, rec.Outcome, rec.Error, want)
				}
			}
			run("1", deploy.OutcomeSucceeded)
			<-polled // the watch of build 1 waits for its first interval
			run("2", tt.want)
			eng.Wait()
			if tt.told {
				// Wait for the post, the watch of 1 having ended.
				deadline := time.Now().Add(30 * time.Second)
				for !strings.Contains(out.titles(), "nothing watches") && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			}
			w.Close()
			got := out.titles()
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
