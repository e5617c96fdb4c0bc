package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// posted records what is posted, one line per message: channel, title,
// the message's other lines, and its buttons' labels and commands.
type posted struct {
	mu    sync.Mutex
	posts []string
}

func (p *posted) Post(_ context.Context, ch string, m chat.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := ch + ": " + m.Title + " | " + strings.Join(m.Lines, " | ")
	for _, b := range m.Buttons {
		line += " [" + b.Label + ": " + b.Action + "]"
	}
	p.posts = append(p.posts, line)
	return nil
}

// alertYAML is the config of TestRouteAlert, with laterRunApps.
var alertYAML = alertYAMLBase + laterRunApps("blog", "mail", "docs", "wiki")

// laterRunApps are apps of one env, prod, whose channel is C-NAME in
// capitals and whose Sentry project is the app's name.
func laterRunApps(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "  %s:\n    artifact:\n      path: a/{build}.tgz\n    path: srv/%[1]s\n    restart: 'true'\n    environments:\n      prod: {hosts: [localhost], channel: C-%s, sentry: {project: %[1]s}}\n", n, strings.ToUpper(n))
	}
	return b.String()
}

const alertYAMLBase = `store:
  path: state.db
sentry:
  org: acme
  token: t
  webhook_secret: s
apps:
  web:
    default_env: prod
    artifact:
      path: a/{build}.tgz
    path: /srv/web
    restart: 'true'
    environments:
      staging: {transport: ssh, ssh: {user: deploy, agent: true, known_hosts: known_hosts}, hosts: [web-staging], channel: C-STAGING, sentry: {project: web}}
      prod:    {hosts: [localhost], channel: C-PROD,    sentry: {project: web}}
  api:
    artifact:
      path: a/{build}.tgz
    path: srv/api
    restart: 'true'
    environments:
      prod: {hosts: [localhost], channel: C-API, sentry: {project: api}}
  shop:
    artifact:
      path: a/{build}.tgz
    path: srv/shop
    restart: 'true'
    environments:
      prod: {hosts: [localhost], channel: C-SHOP, sentry: {project: shop}}
  shop-jobs:
    artifact:
      path: a/{build}.tgz
    path: srv/shop-jobs
    restart: 'true'
    environments:
      prod: {hosts: [localhost], channel: C-JOBS, sentry: {project: shop, environment: prod}}
  cart:
    artifact:
      path: a/{build}.tgz
    path: srv/cart
    restart: 'true'
    environments:
      prod: {hosts: [localhost], channel: C-CART, sentry: {project: cart}}
`

// brokenHistory is a store whose deploy history cannot be read.
type brokenHistory struct{ stateStore }

func (brokenHistory) Records(context.Context, deploy.Filter) ([]*deploy.Record, error) {
	return nil, errors.New("store: connection refused")
}

// TestRouteAlert: an alert going off is posted to its env's channel with
// a Rollback button from the live build, or with none and a word to roll
// back by hand when the live build is unknown, or to deploy a fixed build
// when its deploy has nothing to roll back to (a first deploy); one settling is posted
// without one, or not at all; one that names no environment, or whose
// environment several envs share, is posted without a button, once per
// channel.
func TestRouteAlert(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(p, []byte(alertYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(cfg.Store.Path, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Every env but web/prod has a live build. That of api/prod is its
	// first release, and cart/prod's replaced a bad one with no good one
	// left: neither has anything to roll back to. web/staging's record
	// names the release a rollback from it goes back to.
	for _, r := range []struct {
		app, env, build, previous, rollbackTo string
		noRollback                            bool
	}{{"web", "staging", "1337", "1336", "1336", false}, {"api", "prod", "7", "", "", false}, {"shop", "prod", "8", "7", "7", false}, {"shop-jobs", "prod", "9", "8", "8", false}, {"cart", "prod", "5", "4", "", true}} {
		if err := st.PutRecord(context.Background(), &deploy.Record{ID: "d-" + r.build, Kind: deploy.KindDeploy, App: r.app, Env: r.env, Build: r.build, Previous: r.previous,
			Started: time.Now().Add(-time.Hour), Finished: time.Now().Add(-time.Hour), Outcome: deploy.OutcomeSucceeded, NoRollback: r.noRollback, RollbackTo: r.rollbackTo}); err != nil {
			t.Fatal(err)
		}
	}
	// A later run follows a succeeded one in blog/prod (partial: most
	// hosts run its build), mail/prod (interrupted: hosts apart),
	// docs/prod (failed: nothing changed) and wiki/prod (still going).
	for i, r := range []struct {
		app, build, previous string
		outcome              deploy.Outcome
	}{{"blog", "3", "2", deploy.OutcomeSucceeded}, {"blog", "4", "3", deploy.OutcomePartial},
		{"mail", "3", "2", deploy.OutcomeSucceeded}, {"mail", "4", "3", deploy.OutcomeInterrupted},
		{"docs", "3", "2", deploy.OutcomeSucceeded}, {"docs", "4", "3", deploy.OutcomeFailed},
		{"wiki", "3", "2", deploy.OutcomeSucceeded}, {"wiki", "4", "3", deploy.OutcomeRunning}} {
		at := time.Now().Add(time.Duration(i%2-2) * time.Hour)
		rec := &deploy.Record{ID: "d-" + r.app + r.build, Kind: deploy.KindDeploy, App: r.app, Env: "prod", Build: r.build, Previous: r.previous,
			Started: at, Outcome: r.outcome, RollbackTo: r.previous}
		if r.outcome.Done() {
			rec.Finished = at.Add(time.Minute)
		}
		if err := st.PutRecord(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	const byHand = "the live release is unknown, so there is no Rollback button: roll back by hand"
	const nothingBack = "no earlier good release to roll back to, so there is no Rollback button: deploy a fixed build"
	tests := []struct {
		name   string
		broken bool // the deploy history cannot be read
		alert  sentry.Alert
		want   []string // each post, sorted
	}{
		{"metric alert critical, nothing deployed yet", false, sentry.Alert{Resource: "metric_alert", Action: "critical", Project: "web", Environment: "prod", Title: "Error rate", URL: "S"},
			[]string{"C-PROD: Sentry metric alert for web/prod: Error rate | live release: web unknown (S) | " + byHand}},
		{"metric alert resolved", false, sentry.Alert{Resource: "metric_alert", Action: "resolved", Project: "web", Environment: "prod", Title: "Error rate", URL: "S"},
			[]string{"C-PROD: Sentry metric alert resolved for web/prod: Error rate | live release: web unknown (S)"}},
		{"event alert", false, sentry.Alert{Resource: "event_alert", Action: "triggered", Project: "web", Environment: "staging", Title: "boom", URL: "S"},
			[]string{"C-STAGING: Sentry event alert for web/staging: boom | live release: web 1337 (S) [Roll back to 1336: rollback web staging to 1336 from 1337]"}},
		{"event alert after a partial deploy", false, sentry.Alert{Resource: "event_alert", Action: "triggered", Project: "blog", Environment: "prod", Title: "boom", URL: "S"},
			[]string{"C-BLOG: Sentry event alert for blog/prod: boom | live release: blog 4 (S) [Roll back to 3: rollback blog prod to 3 from 4]"}},
		{"event alert after an interrupted deploy", false, sentry.Alert{Resource: "event_alert", Action: "triggered", Project: "mail", Environment: "prod", Title: "boom", URL: "S"},
			[]string{"C-MAIL: Sentry event alert for mail/prod: boom | live release: mail unknown (deploy d-mail4 of 4 interrupted) (S) | deploy d-mail4 was interrupted and left the hosts apart: " + suggest.Command("status mail") + " shows them [Roll back to 3: rollback mail prod to 3 from 4]"}},
		{"event alert after a failed deploy", false, sentry.Alert{Resource: "event_alert", Action: "triggered", Project: "docs", Environment: "prod", Title: "boom", URL: "S"},
			[]string{"C-DOCS: Sentry event alert for docs/prod: boom | live release: docs 3 (S) [Roll back to 2: rollback docs prod to 2 from 3]"}},
		{"event alert during a deploy", false, sentry.Alert{Resource: "event_alert", Action: "triggered", Project: "wiki", Environment: "prod", Title: "boom", URL: "S"},
			[]string{"C-WIKI: Sentry event alert for wiki/prod: boom | live release: wiki unknown (deploy d-wiki4 of 4 running) (S) | deploy d-wiki4 is still going, so there is no Rollback button: " + suggest.Command("cancel wiki prod") + ", or wait for its end"}},
		{"issue created, no environment, after an interrupted deploy", false, sentry.Alert{Resource: "issue", Action: "created", Project: "mail", Title: "TypeError", URL: "S"},
			[]string{"C-MAIL: Sentry issue for Sentry project mail: TypeError | Sentry did not say which environment (S); roll back by hand if it is this one | live release on mail/prod: unknown (deploy d-mail4 of 4 interrupted)"}},
		{"event alert after a first deploy", false, sentry.Alert{Resource: "event_alert", Action: "triggered", Project: "api", Environment: "prod", Title: "boom", URL: "S"},
			[]string{"C-API: Sentry event alert for api/prod: boom | live release: api 7 (S) | " + nothingBack}},
		{"event alert after a deploy replacing a bad release only", false, sentry.Alert{Resource: "event_alert", Action: "triggered", Project: "cart", Environment: "prod", Title: "boom", URL: "S"},
			[]string{"C-CART: Sentry event alert for cart/prod: boom | live release: cart 5 (S) | " + nothingBack}},
		{"metric alert resolved after a first deploy", false, sentry.Alert{Resource: "metric_alert", Action: "resolved", Project: "api", Environment: "prod", Title: "Error rate", URL: "S"},
			[]string{"C-API: Sentry metric alert resolved for api/prod: Error rate | live release: api 7 (S)"}},
		{"event alert, history unreadable", true, sentry.Alert{Resource: "event_alert", Action: "triggered", Project: "web", Environment: "staging", Title: "boom", URL: "S"},
			[]string{"C-STAGING: Sentry event alert for web/staging: boom | live release: web unknown (S) | " + byHand}},
		{"issue created, no environment", false, sentry.Alert{Resource: "issue", Action: "created", Project: "web", Title: "TypeError", URL: "S"},
			[]string{
				"C-PROD: Sentry issue for Sentry project web: TypeError | Sentry did not say which environment (S); roll back by hand if it is this one | live release on web/prod: unknown",
				"C-STAGING: Sentry issue for Sentry project web: TypeError | Sentry did not say which environment (S); roll back by hand if it is this one | live release on web/staging: 1337",
			}},
		{"issue created, no environment, one env uses the project", false, sentry.Alert{Resource: "issue", Action: "created", Project: "api", Title: "TypeError", URL: "S"},
			[]string{"C-API: Sentry issue for Sentry project api: TypeError | Sentry did not say which environment (S); roll back by hand if it is this one | live release on api/prod: 7"}},
		{"metric alert critical, its environment shared", false, sentry.Alert{Resource: "metric_alert", Action: "critical", Project: "shop", Environment: "prod", Title: "Error rate", URL: "S"},
			[]string{
				"C-JOBS: Sentry metric alert for Sentry project shop: Error rate | more than one env reports to Sentry project shop, environment prod (S); roll back by hand if it is this one | live release on shop-jobs/prod: 9",
				"C-SHOP: Sentry metric alert for Sentry project shop: Error rate | more than one env reports to Sentry project shop, environment prod (S); roll back by hand if it is this one | live release on shop/prod: 8",
			}},
		{"metric alert resolved, its environment shared", false, sentry.Alert{Resource: "metric_alert", Action: "resolved", Project: "shop", Environment: "prod", Title: "Error rate", URL: "S"},
			[]string{
				"C-JOBS: Sentry metric alert resolved for Sentry project shop: Error rate | more than one env reports to Sentry project shop, environment prod (S) | live release on shop-jobs/prod: 9",
				"C-SHOP: Sentry metric alert resolved for Sentry project shop: Error rate | more than one env reports to Sentry project shop, environment prod (S) | live release on shop/prod: 8",
			}},
		{"issue resolved", false, sentry.Alert{Resource: "issue", Action: "resolved", Project: "web", Title: "TypeError"}, nil},
		{"issue assigned", false, sentry.Alert{Resource: "issue", Action: "assigned", Project: "web", Title: "TypeError"}, nil},
		{"another project", false, sentry.Alert{Resource: "metric_alert", Action: "critical", Project: "billing", Environment: "prod", Title: "x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &posted{}
			var logged strings.Builder
			sys := &system{cfg: cfg, store: st, notify: &relay{target: out}, log: slog.New(slog.NewTextHandler(&logged, nil))}
			if tt.broken {
				sys.store = brokenHistory{st}
			}
			sys.routeAlert(tt.alert)
			slices.Sort(out.posts)
			if !slices.Equal(out.posts, tt.want) {
				t.Errorf("posted\n%s\nwant\n%s", strings.Join(out.posts, "\n"), strings.Join(tt.want, "\n"))
			}
			if got := strings.Contains(logged.String(), "connection refused"); got != tt.broken {
				t.Errorf("store error logged: %v, want %v; log:\n%s", got, tt.broken, logged.String())
			}
		})
	}
}

// TestByPlatform: with both platforms, a Discord channel id goes to
// Discord and any other channel to Slack.
func TestByPlatform(t *testing.T) {
	sl, dc := &posted{}, &posted{}
	n := byPlatform{slack: sl, discord: dc}
	for _, ch := range []string{"C0123ABCD", "#deploys", "1187346925174251520", "G12", ""} {
		if err := n.Post(context.Background(), ch, chat.Message{Title: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(dc.posts, ","); got != "1187346925174251520: t | " {
		t.Errorf("Discord got %q", got)
	}
	if len(sl.posts) != 4 {
		t.Errorf("Slack got %q, want the 4 others", sl.posts)
	}
}
