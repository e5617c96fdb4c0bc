package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/sentry"
)

// notifier posts to a chat channel; the chat adapters implement it.
type notifier interface {
	Post(ctx context.Context, channel string, m chat.Message) error
}

// relay is the notifier the engine's observers are given before the chat
// adapters exist; serve (or the console) points it at the real one. Until
// then, and without any chat platform, messages go to the log.
type relay struct {
	mu     sync.Mutex
	target notifier
	log    *slog.Logger
}

func (r *relay) set(n notifier) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target = n
}

func (r *relay) Post(ctx context.Context, channel string, m chat.Message) error {
	r.mu.Lock()
	n := r.target
	r.mu.Unlock()
	if n == nil {
		r.log.Warn("chat message (no chat platform to post it to)", "channel", channel, "title", m.Title, "lines", strings.Join(m.Lines, " | "))
		return nil
	}
	return n.Post(ctx, channel, m)
}

// consoleNotifier prints channel messages in the console.
type consoleNotifier struct{ out func(chat.Message) }

func (c consoleNotifier) Post(_ context.Context, channel string, m chat.Message) error {
	c.out(m)
	return nil
}

// channelFor returns the channel an app/env's messages go to ("" when the
// config names none: then the deploy's requester's channel).
func channelFor(cfg *config.Config) func(app, env string) string {
	return func(app, env string) string {
		a, ok := cfg.App(app)
		if !ok {
			return ""
		}
		e, ok := a.Env(env)
		if !ok {
			return ""
		}
		return e.Channel
	}
}

// interruptedMessage tells a channel that a deploy's process died, what
// each host runs now, and offers the rollback.
func interruptedMessage(r *deploy.Record) chat.Message {
	m := chat.Message{Level: chat.Failure, Public: true,
		Title:   fmt.Sprintf("⚠ %s %s of %s %s to %s was interrupted: %s", r.Kind, r.ID, r.App, r.Build, r.Env, r.Error),
		Lines:   []string{"nothing is retried by itself: roll back, or deploy again"},
		Buttons: []chat.Button{commands.RollbackButton(r.App, r.Env, "", "")},
	}
	for _, h := range r.Hosts {
		v := "on " + orNone(h.Current)
		if h.State == deploy.HostUnreachable {
			v = "unreachable: " + h.Error
		}
		m.Fields = append(m.Fields, chat.Field{Label: h.Host, Value: v})
	}
	return m
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// reportInterrupted posts an interrupted deploy to its channel.
func (s *system) reportInterrupted(r *deploy.Record) {
	s.log.Warn("deploy interrupted: its process stopped before it finished", "deploy", r.ID, "app", r.App, "env", r.Env, "build", r.Build)
	ch := channelFor(s.cfg)(r.App, r.Env)
	if ch == "" {
		ch = r.Channel
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.notify.Post(ctx, ch, interruptedMessage(r)); err != nil {
		s.log.Error("post interrupted deploy", "deploy", r.ID, "err", err)
	}
}

// routeAlert posts a Sentry alert webhook to the channel of the app/env
// whose Sentry project and environment it names, with the release that is
// live there now.
func (s *system) routeAlert(a sentry.Alert) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, appName := range s.cfg.AppNames() {
		app, _ := s.cfg.App(appName)
		for _, envName := range app.EnvNames() {
			env, _ := app.Env(envName)
			es := env.Sentry
			if es == nil || es.Project != a.Project {
				continue
			}
			sentryEnv := es.Environment
			if sentryEnv == "" {
				sentryEnv = envName
			}
			if a.Environment != "" && a.Environment != sentryEnv {
				continue
			}
			live, liveID := "unknown", ""
			if recs, err := s.store.Records(ctx, deploy.Filter{App: appName, Env: envName, Outcome: deploy.OutcomeSucceeded, Limit: 1}); err == nil && len(recs) > 0 {
				live, liveID = recs[0].Build, recs[0].ID
			}
			ch := env.Channel
			if ch == "" {
				s.log.Warn("sentry alert for an env without a channel", "app", appName, "env", envName, "title", a.Title)
				continue
			}
			m := chat.Message{Level: chat.Warning, Public: true,
				Title:   fmt.Sprintf("Sentry %s for %s/%s: %s", strings.ReplaceAll(a.Resource, "_", " "), appName, envName, a.Title),
				Lines:   []string{fmt.Sprintf("live release: %s %s (%s)", appName, live, a.URL)},
				Buttons: []chat.Button{commands.RollbackButton(appName, envName, knownBuild(live), liveID)}}
			if err := s.notify.Post(ctx, ch, m); err != nil {
				s.log.Error("post sentry alert", "err", err)
			}
		}
	}
}

// knownBuild is live, the build an alert found running, or "" when it is
// "unknown": an alert's Rollback button then acts on what runs.
func knownBuild(live string) string {
	if live == "unknown" {
		return ""
	}
	return live
}
