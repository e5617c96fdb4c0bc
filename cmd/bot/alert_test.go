package main

import (
	"context"
	"errors"
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
)

// posted records what is posted, one line per message: channel, title,
// the message's other lines, and its buttons' commands.
type posted struct {
	mu    sync.Mutex
	posts []string
}

func (p *posted) Post(_ context.Context, ch string, m chat.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := ch + ": " + m.Title + " | " + strings.Join(m.Lines, " | ")
	for _, b := range m.Buttons {
		line += " [" + b.Action + "]"
	}
	p.posts = append(p.posts, line)
	return nil
}

const alertYAML = `store:
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
    path: srv
    restart: 'true'
    environments:
      staging: {hosts: [localhost], channel: C-STAGING, sentry: {project: web}}
      prod:    {hosts: [localhost], channel: C-PROD,    sentry: {project: web}}
`

// brokenHistory is a store whose deploy history cannot be read.
type brokenHistory struct{ stateStore }

func (brokenHistory) Records(context.Context, deploy.Filter) ([]*deploy.Record, error) {
	return nil, errors.New("store: connection refused")
}

// TestRouteAlert: an alert going off is posted to its env's channel with
// a Rollback button from the live build, or with none and a word to roll
// back by hand when the live build is unknown; one settling is posted
// without one, or not at all; one that names no environment matching
// several envs is posted without a button, once per channel.
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
	if err := st.PutRecord(context.Background(), &deploy.Record{ID: "d-1337", Kind: deploy.KindDeploy, App: "web", Env: "staging", Build: "1337",
		Started: time.Now().Add(-time.Hour), Finished: time.Now().Add(-time.Hour), Outcome: deploy.OutcomeSucceeded}); err != nil {
		t.Fatal(err)
	}
	const byHand = "the live release is unknown, so there is no Rollback button: roll back by hand"
	tests := []struct {
		name   string
		broken bool // the deploy history cannot be read
		alert  sentry.Alert
		want   []string // each post, in order (a prefix of it)
	}{
		{"metric alert critical, nothing deployed yet", false, sentry.Alert{Resource: "metric_alert", Action: "critical", Project: "web", Environment: "prod", Title: "Error rate", URL: "S"},
			[]string{"C-PROD: Sentry metric alert for web/prod: Error rate | live release: web unknown (S) | " + byHand}},
		{"metric alert resolved", false, sentry.Alert{Resource: "metric_alert", Action: "resolved", Project: "web", Environment: "prod", Title: "Error rate", URL: "S"},
			[]string{"C-PROD: Sentry metric alert resolved for web/prod: Error rate | live release: web unknown (S)"}},
		{"event alert", false, sentry.Alert{Resource: "event_alert", Action: "triggered", Project: "web", Environment: "staging", Title: "boom", URL: "S"},
			[]string{"C-STAGING: Sentry event alert for web/staging: boom | live release: web 1337 (S) [rollback web staging from 1337]"}},
		{"event alert, history unreadable", true, sentry.Alert{Resource: "event_alert", Action: "triggered", Project: "web", Environment: "staging", Title: "boom", URL: "S"},
			[]string{"C-STAGING: Sentry event alert for web/staging: boom | live release: web unknown (S) | " + byHand}},
		{"issue created, no environment", false, sentry.Alert{Resource: "issue", Action: "created", Project: "web", Title: "TypeError"},
			[]string{
				"C-PROD: Sentry issue for Sentry project web: TypeError | Sentry did not say which environment",
				"C-STAGING: Sentry issue for Sentry project web: TypeError | Sentry did not say which environment",
			}},
		{"issue resolved", false, sentry.Alert{Resource: "issue", Action: "resolved", Project: "web", Title: "TypeError"}, nil},
		{"issue assigned", false, sentry.Alert{Resource: "issue", Action: "assigned", Project: "web", Title: "TypeError"}, nil},
		{"another project", false, sentry.Alert{Resource: "metric_alert", Action: "critical", Project: "api", Environment: "prod", Title: "x"}, nil},
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
			if len(out.posts) != len(tt.want) {
				t.Fatalf("posted %q, want %d posts", out.posts, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(out.posts[i], w) {
					t.Errorf("post %q, want it to start with %q", out.posts[i], w)
				}
				if strings.Contains(w, byHand) && strings.Contains(out.posts[i], "[rollback") {
					t.Errorf("post %q has a Rollback button though the live build is unknown", out.posts[i])
				}
				if strings.Contains(w, "did not say") && strings.Contains(out.posts[i], "[rollback") {
					t.Errorf("post %q has a Rollback button for an env Sentry did not name", out.posts[i])
				}
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
