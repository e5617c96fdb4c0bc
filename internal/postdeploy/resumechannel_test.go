package postdeploy_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// anyChannel is a chat that takes every channel, recording where each
// message went.
type anyChannel struct {
	mu   sync.Mutex
	msgs []string
}

func (a *anyChannel) Post(_ context.Context, channel string, m chat.Message) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.msgs = append(a.msgs, channel+": "+m.Title+" | "+strings.Join(m.Lines, " | "))
	return nil
}

func (a *anyChannel) posts() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.msgs...)
}

// TestResumedWatchPostsWhereItCanBeRead: a watch that another bot goes on
// with posts to the env's configured channel; with none configured, to
// the channel the deploy was asked in only when that bot's chat reaches
// it. A deploy typed in the console is asked in the console's own
// channel ("console"): a bot serving Slack that went on with its watch,
// the console having exited, posted the spike and the automatic rollback
// to a Slack channel called "console", where nobody read them. It logs
// them at warn instead, in full, and the audit log keeps the spike and
// the rollback; the rollback itself is not held back.
func TestResumedWatchPostsWhereItCanBeRead(t *testing.T) {
	for _, tc := range []struct {
		name       string
		envChannel string // the env's channel in the config, "" for none
		askedIn    string // where the deploy was typed
		want       string // where the next bot posts, "" for nowhere
	}{
		{name: "the env's channel", envChannel: "#deploys", askedIn: "console", want: "#deploys"},
		{name: "no env channel, asked in Slack", askedIn: "C0123ABCD", want: "C0123ABCD"},
		{name: "no env channel, asked in the console", askedIn: "console", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFakeSentry(t)
			dir := t.TempDir()
			channel := ""
			if tc.envChannel != "" {
				channel = fmt.Sprintf("\n        channel: %q", tc.envChannel)
			}
			yaml := fmt.Sprintf(`sentry: {url: %s, org: acme, token: sntrys_test}
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'true'
    environments:
      production:
        hosts: [localhost]%s
        sentry: {project: web-backend, watch: 10m, interval: 1m, auto_rollback: true}
`, fs.srv.URL, channel)
			cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []string{"1", "2"} {
				artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-"+b+".tar.gz"), tgz(t, b))
			}
			open := func() durableStore {
				st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			t0 := time.Now().In(watchZone).Truncate(time.Minute)
			spikeFrom(fs, t0)
			clk := testclock.New(t0.Add(-30 * time.Minute))
			sl := newStoppingSleep(clk)

			// The console: its chat prints every channel's messages.
			console := &anyChannel{}
			b1 := channelBot(t, cfg, open(), fs.srv.URL, "console", clk, sl.sleep, console, nil, slog.New(slog.DiscardHandler))
			ask := func(build string) {
				t.Helper()
				mustDeploy(t, b1.eng, deploy.Request{App: "web", Env: "production", Build: build, Requester: "ana", Platform: "console", Channel: tc.askedIn})
			}
			ask("1")
			b1.eng.Wait()
			b1.w.Wait()
			sl.armed.Store(true)
			clk.Set(t0)
			ask("2")
			sl.waitStopped(t)
			b1.w.Close() // the console exits mid-watch
			b1.eng.Wait()
			b1.st.Close()

			// The serving bot: its chat (Slack) reaches every channel but
			// the console's.
			clk.Set(t0.Add(5 * time.Minute))
			st2 := open()
			slack := &anyChannel{}
			logs := &lockedBuffer{}
			b2 := channelBot(t, cfg, st2, fs.srv.URL, "serve", clk, clk.Sleep, slack,
				func(ch string) bool { return ch != "console" }, slog.New(slog.NewTextHandler(logs, nil)))
			b2.resume(t, 1)
			b2.w.Wait()
			b2.eng.Wait()

			if current, _ := os.Readlink(filepath.Join(dir, "srv/web/current")); current != "releases/1" {
				t.Errorf("current after the spike: got %q, want releases/1 (rolled back by itself)", current)
			}
			got := slack.posts()
			all := strings.Join(got, "\n")
			for _, p := range got {
				if tc.want == "" || !strings.HasPrefix(p, tc.want+": ") {
					t.Errorf("the serving bot posted %q; want every post to %q", p, tc.want)
				}
			}
			told := all
			if tc.want == "" {
				told = logs.String()
				for _, want := range []string{"level=WARN", "no channel to post to", "web/production has no channel in the config"} {
					if !strings.Contains(told, want) {
						t.Errorf("log: want %q:\n%s", want, told)
					}
				}
			}
			for _, want := range []string{
				"📈 Error spike after web 2 to production",
				"auto_rollback is on for web/production: rolling back now",
				"Rolled back web/production to 1 by itself (succeeded)",
			} {
				if !strings.Contains(told, want) {
					t.Errorf("want %q told (posted to %q, else logged):\nposts:\n%s\nlog:\n%s", want, tc.want, all, logs.String())
				}
			}
			if spikes := spikeEntries(t, st2); spikes != 1 {
				t.Errorf("spike audit entries: got %d, want 1", spikes)
			}
			entries, err := st2.Audit(t.Context(), audit.Query{App: "web"})
			if err != nil {
				t.Fatal(err)
			}
			var rollbacks int
			for _, e := range entries {
				if e.Action == "rollback" && strings.HasPrefix(e.Reason, "automatic rollback") && strings.Contains(e.Reason, "finished: succeeded") {
					rollbacks++
				}
				if e.Platform == "sentry" && e.Channel != tc.want {
					t.Errorf("audit entry %q %q names channel %q, want %q", e.Command, e.Reason, e.Channel, tc.want)
				}
			}
			if rollbacks != 1 {
				t.Errorf("audit: got %d automatic rollbacks finished, want 1", rollbacks)
			}
		})
	}
}

// channelBot is newBot with the env's configured channel, chat n, whose
// reach is reaches, and log.
func channelBot(t *testing.T, cfg *config.Config, st durableStore, sentryURL, replica string, clk *testclock.Clock,
	sleep func(context.Context, time.Duration) error, n postdeploy.Notifier, reaches func(string) bool, log *slog.Logger) *bot {
	t.Helper()
	sc, err := sentry.New(sentry.Options{BaseURL: sentryURL, Token: "sntrys_test"})
	if err != nil {
		t.Fatal(err)
	}
	b := &bot{st: st}
	b.rb = &holdingRollbacker{rollbacker: rollbacker{&b.eng}}
	b.w = postdeploy.New(postdeploy.Options{Config: cfg, Sentry: sc, Notifier: n, Audit: st, History: st,
		Rollback: b.rb, Now: clk.Now, Sleep: sleep, Log: log, Reaches: reaches,
		Channel: func(app, env string) string {
			a, _ := cfg.App(app)
			e, _ := a.Env(env)
			return e.Channel
		},
		Watches: st, Leases: st, LeaseTTL: watchLeaseTTL, Replica: replica})
	t.Cleanup(b.w.Close)
	b.eng = deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store: st, Leases: st, Locks: st, Now: clk.Now, Observers: []deploy.Sink{b.w.Observe}})
	return b
}
