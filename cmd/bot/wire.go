package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/console"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/suggest"
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

// reaches reports whether the chat the relay posts to can post to
// channel: the console prints every channel's messages, and with no chat
// they are logged; Slack and Discord cannot post to the console's
// channel, which they would take for one of theirs of that name (see
// postdeploy.Options.Reaches).
func (r *relay) reaches(channel string) bool {
	r.mu.Lock()
	n := r.target
	r.mu.Unlock()
	switch n.(type) {
	case nil, consoleNotifier:
		return true
	}
	return channel != console.Channel
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

// byPlatform posts to Discord the channels that are Discord ids (all
// digits, as Discord's snowflakes are) and every other channel (a Slack
// id such as C0123ABCD, or #name) to Slack: with both platforms
// configured, the reports the bot posts by itself (interrupted deploys,
// Sentry spikes and alerts, trains) go where their channel is.
type byPlatform struct{ slack, discord notifier }

func (b byPlatform) Post(ctx context.Context, channel string, m chat.Message) error {
	if isDiscordID(channel) {
		return b.discord.Post(ctx, channel, m)
	}
	return b.slack.Post(ctx, channel, m)
}

func isDiscordID(channel string) bool {
	if channel == "" {
		return false
	}
	for _, c := range channel {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// consoleNotifier prints channel messages in the console.
type consoleNotifier struct{ out func(chat.Message) }

func (c consoleNotifier) Post(_ context.Context, channel string, m chat.Message) error {
	c.out(m)
	return nil
}

// channelFor returns the channel an app/env's messages go to ("" when the
// config names none: then the channel the deploy was asked in, where the
// bot's chat reaches it; see relay.reaches).
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

// interruptedMessage tells a channel that a deploy's process died, how far
// its migrations got, what each host runs now, and offers the rollback.
func interruptedMessage(r *deploy.Record) chat.Message {
	// The level marks it (✖ in the console, ❌ on Slack, red on Discord):
	// a sign of its own in the title as well showed two.
	m := chat.Message{Level: chat.Failure, Public: true,
		Title: fmt.Sprintf("%s %s of %s %s to %s was interrupted: %s", r.Kind, r.ID, r.App, r.Build, r.Env, r.Error),
	}
	// Whether the schema changed weighs on the choice: a rollback does
	// not undo a migration.
	if l := commands.MigrationsLine(r); l != "" {
		m.Lines = append(m.Lines, l)
	}
	m.Lines = append(m.Lines, "nothing is retried by itself: roll back, or deploy again")
	// A step does not die with the bot: the host's shell runs what it
	// began to its end, until the next run of the app+env stops it. So
	// does one the recovery could not reach (Lost): it may have hung
	// in the middle of its step, and goes on with it once back.
	var busy []string
	for _, h := range r.Hosts {
		if h.State == deploy.HostActivating || h.Lost {
			busy = append(busy, h.Host)
		}
	}
	if len(busy) > 0 {
		m.Lines = append(m.Lines, fmt.Sprintf("what the %s had begun on %s (a switch, a restart, a health check) may still be running there: the next deploy or rollback of %s/%s stops it there before it changes anything",
			r.Kind, strings.Join(busy, ", "), r.App, r.Env))
	}
	if b, ok := commands.InterruptedButton(r); ok {
		m.Buttons = []chat.Button{b}
	}
	for _, h := range r.Hosts {
		// A host lost during its switch may be on either release; so
		// may one recovery could not read (it did not answer, was
		// refused, or hung), which keeps what the run last recorded of
		// it and must not be shown as read.
		v := "on " + orNone(h.Release())
		switch {
		case h.State == deploy.HostUnreachable:
			v = "unreachable, last seen " + v + ": " + h.Error
		case h.Unread:
			v = "could not be read, last seen " + v + ": " + h.Error
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

// auditLockReplaced writes to the audit log that the lock a rollback left
// replaced a person's lock.
func (s *system) auditLockReplaced(ctx context.Context, run *deploy.Record, replaced deploy.Lock) {
	if err := s.service.AuditLockReplaced(ctx, run, replaced); err != nil {
		s.log.Error("append audit entry", "deploy", run.ID, "err", err)
	}
}

// reportInterrupted writes the end of an interrupted deploy to the audit
// log and posts it to its channel.
func (s *system) reportInterrupted(r *deploy.Record) {
	s.log.Warn("deploy interrupted: its process stopped before it finished", "deploy", r.ID, "app", r.App, "env", r.Env, "build", r.Build)
	ch := channelFor(s.cfg)(r.App, r.Env)
	if ch == "" {
		ch = r.Channel
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.service.AuditInterrupted(ctx, r); err != nil {
		s.log.Error("append audit entry", "deploy", r.ID, "err", err)
	}
	if err := s.notify.Post(ctx, ch, interruptedMessage(r)); err != nil {
		s.log.Error("post interrupted deploy", "deploy", r.ID, "err", err)
	}
}

// liveRun reads app/env's history until deploy.Live can tell which run
// put what runs there now live: the last record first, which tells in
// most envs, and further back only when it must.
func (s *system) liveRun(ctx context.Context, app, env string) (live, unsettled *deploy.Record, err error) {
	for _, limit := range []int{1, liveHistory, 0} {
		recs, err := s.store.Records(ctx, deploy.Filter{App: app, Env: env, Limit: limit})
		if err != nil || len(recs) == 0 {
			return nil, nil, err
		}
		live, unsettled, complete := deploy.Live(recs)
		if complete || len(recs) < limit {
			return live, unsettled, nil
		}
	}
	return nil, nil, nil
}

// liveHistory is how many records liveRun reads when the last one does
// not tell.
const liveHistory = 20

// routeAlert posts a Sentry alert webhook to the channel of the app/env
// whose Sentry project and environment it names, with the release that is
// live there now (see deploy.Live) and, when the deploy history names it,
// a Rollback button from that build, unless that deploy has nothing to
// roll back to (the first of the env, say). After an interrupted run the
// button is that run's undo, as /status offers; during a run there is
// none. Only an alert that fires calls for a rollback: a
// metric alert that resolved is posted without a button, and
// an issue resolved, assigned, archived or ignored is not posted. An
// alert that names no environment (issue webhooks carry none), or whose
// project and environment several envs share, is posted once per
// channel, with each env's live release and no button: which env it is
// about is not the bot's to guess.
func (s *system) routeAlert(a sentry.Alert) {
	firing := a.Fires()
	if !a.Posted() {
		s.log.Debug("sentry alert not posted", "resource", a.Resource, "action", a.Action, "title", a.Title)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type target struct {
		app, env, channel, live string
		// deployed is the run (a deploy, or a rollback) that put the live
		// release live, nil when it is unknown.
		deployed *deploy.Record
		// unsettled is the run, still going or interrupted, that left the
		// hosts changing or apart since, when there is one.
		unsettled *deploy.Record
	}
	var targets []target
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
			if env.Channel == "" {
				s.log.Warn("sentry alert for an env without a channel", "app", appName, "env", envName, "title", a.Title)
				continue
			}
			t := target{app: appName, env: envName, channel: env.Channel, live: "unknown"}
			live, unsettled, err := s.liveRun(ctx, appName, envName)
			switch {
			case err != nil:
				s.log.Error("sentry alert: read the live release", "app", appName, "env", envName, "err", err)
			case live != nil:
				t.live, t.deployed = live.Build, live
			case unsettled != nil:
				t.unsettled = unsettled
				t.live = fmt.Sprintf("unknown (%s %s of %s %s)", unsettled.Kind, unsettled.ID, unsettled.Build, unsettled.Outcome)
			}
			targets = append(targets, t)
		}
	}
	what := "Sentry " + strings.ReplaceAll(a.Resource, "_", " ")
	if !firing {
		what += " resolved"
	}
	type post struct {
		channel string
		m       chat.Message
	}
	var posts []post
	// Sentry can report from an env the config does not have (staging
	// sending to prod's project, say), and a project and environment
	// several apps/envs share do not say which of them: a button would be
	// the bot's guess.
	if a.Environment == "" || len(targets) > 1 {
		why := "Sentry did not say which environment"
		if a.Environment != "" {
			why = fmt.Sprintf("more than one env reports to Sentry project %s, environment %s", a.Project, a.Environment)
		}
		byChannel := map[string]int{}
		for _, t := range targets {
			k, ok := byChannel[t.channel]
			if !ok {
				k = len(posts)
				byChannel[t.channel] = k
				posts = append(posts, post{t.channel, chat.Message{Level: chat.Warning, Public: true,
					Title: fmt.Sprintf("%s for Sentry project %s: %s", what, a.Project, a.Title)}})
			}
			posts[k].m.Lines = append(posts[k].m.Lines, fmt.Sprintf("live release on %s/%s: %s", t.app, t.env, t.live))
		}
		for k := range posts {
			head := fmt.Sprintf("%s (%s)", why, a.URL)
			switch {
			case !firing:
			case len(posts[k].m.Lines) == 1:
				head += "; roll back by hand if it is this one"
			default:
				head += "; roll back by hand if it is one of these"
			}
			posts[k].m.Lines = append([]string{head}, posts[k].m.Lines...)
		}
	} else {
		for _, t := range targets {
			m := chat.Message{Level: chat.Warning, Public: true,
				Title: fmt.Sprintf("%s for %s/%s: %s", what, t.app, t.env, a.Title),
				Lines: []string{fmt.Sprintf("live release: %s %s (%s)", t.app, t.live, a.URL)}}
			// A button without `from BUILD` would roll back whatever runs
			// when it is clicked, maybe a later deploy the alert is not
			// about: with the live build unknown, people roll back by hand.
			switch {
			case firing && t.unsettled != nil && t.unsettled.Outcome == deploy.OutcomeRunning:
				what := "wait for its end"
				if t.unsettled.Kind == deploy.KindDeploy {
					what = suggest.Command("cancel "+t.app+" "+t.env) + ", or wait for its end"
				}
				m.Lines = append(m.Lines, fmt.Sprintf("%s %s is still going, so there is no Rollback button: %s", t.unsettled.Kind, t.unsettled.ID, what))
			case firing && t.unsettled != nil:
				// As /status offers: the rollback that undoes that run
				// only, while the hosts run nothing but its two builds.
				m.Lines = append(m.Lines, fmt.Sprintf("%s %s was interrupted and left the hosts apart: %s shows them", t.unsettled.Kind, t.unsettled.ID, suggest.Command("status "+t.app)))
				if b, ok := commands.InterruptedButton(t.unsettled); ok {
					m.Buttons = []chat.Button{b}
				}
			case firing && t.deployed == nil:
				m.Lines = append(m.Lines, "the live release is unknown, so there is no Rollback button: roll back by hand")
			case firing:
				// As the deploy's own report: a button a rollback would
				// only refuse is no offer.
				if b, why, then, ok := commands.RollbackOffer(t.deployed); ok {
					m.Buttons = []chat.Button{b}
				} else {
					m.Lines = append(m.Lines, why+", so there is no Rollback button: "+then)
				}
			}
			posts = append(posts, post{t.channel, m})
		}
	}
	for _, p := range posts {
		if !firing {
			p.m.Level = chat.Info
		}
		if err := s.notify.Post(ctx, p.channel, p.m); err != nil {
			s.log.Error("post sentry alert", "err", err)
		}
	}
}
