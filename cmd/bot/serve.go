package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/switchman-bot/switchman/internal/chat/discord"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/cluster"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/ratelog"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/server"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/redis"
)

// drainTimeout bounds how long a stopping bot (serve or console) waits for
// running deploys. A variable only so that tests need not wait 5 minutes.
var drainTimeout = 5 * time.Minute

// writeChecker is a store that can tell whether it takes writes now: a
// Redis replica or one at maxmemory does not, nor an embedded file whose
// disk is full or that reached its size limit, all of which still answer
// reads.
type writeChecker interface {
	Writable(ctx context.Context) error
}

// clockChecker is a store whose leases the replica's clock can keep it
// from taking (see redis.Store.ClockError).
type clockChecker interface {
	ClockError(ctx context.Context) error
}

// recoveryInterval is how often a replica looks for deploys whose replica
// died: one is reported within the lease TTL plus this.
func recoveryInterval(cfg *config.Config) time.Duration {
	return min(5*time.Second, max(cfg.Bot.LeaseTTL.D()/4, 200*time.Millisecond))
}

// serve runs the HTTP server (/healthz, /metrics, Slack's endpoints in HTTP
// mode, Discord's interactions endpoint) and, in Socket Mode, the Slack
// connection, until ctx is done or one of them fails. Then it stops taking
// commands and lets running deploys finish and post their final state
// (bounded by drainTimeout). It takes over the listeners early serves
// while the bot starts, which run binds before start changes anything:
// /metrics is on metricsLn when it is not nil.
func serve(ctx context.Context, cfg *config.Config, sys *system, early *server.Early, metricsLn net.Listener, log *slog.Logger) error {
	reg := sys.registry
	metrics := server.NewMetrics(reg)
	handler := timedHandler{h: sys.service, m: metrics}
	// One limiter for the refusals of every endpoint, each its own kind:
	// anyone who reaches the listener can have them refused. Once the
	// server has stopped, the lines it holds back are written, not lost
	// with the timers awaiting the end of their windows.
	refusalLog := &ratelog.Limiter{}
	defer refusalLog.Flush()
	defer sys.metrics.Flush()

	var sa *slack.Adapter
	if cfg.Slack.Configured() {
		var err error
		sa, err = slack.New(slack.Options{Config: cfg, Handler: handler, Dedupe: sys.store, Log: log, RefusalLog: refusalLog})
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.File, err)
		}
		defer sa.Close()
		if err := checkSlackToken(ctx, sa.Client(), log); err != nil {
			return fmt.Errorf("%s: %w", cfg.File, err)
		}
		// Slack unreachable at start-up left the bot's member ID unknown,
		// which refuses some mentions until Slack names it.
		sa.LearnBotUser(ctx)
	}
	var da *discord.Adapter
	if cfg.Discord.Configured() {
		var err error
		if da, err = newDiscord(cfg, handler, sys.store, refusalLog, log); err != nil {
			return fmt.Errorf("%s: %w", cfg.File, err)
		}
		if err := checkDiscordToken(ctx, da, log); err != nil {
			return fmt.Errorf("%s: %w", cfg.File, err)
		}
	}
	opt := server.Options{
		Addr:            cfg.Bot.Listen,
		Early:           early,
		Registry:        reg,
		MetricsListener: metricsLn,
		MaxConns:        maxConns(cfg, openFileLimit()),
		Metrics:         metrics,
		Log:             log,
		Health: func(ctx context.Context) error {
			return storeHealth(ctx, cfg.Store.Redis != nil, sys.store)
		},
		Clock: func(ctx context.Context) error {
			if c, ok := sys.store.(clockChecker); ok {
				return c.ClockError(ctx)
			}
			return nil
		},
		HealthLog:    refusalLog,
		DrainTimeout: drainTimeout,
		Drain: func() {
			if sa != nil {
				sa.Stop()
			}
			discordDone := make(chan struct{})
			go func() {
				defer close(discordDone)
				if da != nil {
					// Shutdown refuses new interactions at once and waits
					// for the progress of running deploys.
					ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
					defer cancel()
					if err := da.Shutdown(ctx); err != nil {
						log.Error("discord shutdown", "err", err)
					}
				}
			}()
			sys.engine.Drain()
			// The watches stop once the deploys have: one that finishes
			// during the drain is still registered with Sentry, and the
			// draining engine refuses any rollback a spike would start.
			// An automatic rollback under way is one of the runs the
			// drain waits for, its outcome audited and posted by its
			// sink before the store closes.
			sys.stopWatches()
			if sa != nil {
				sa.Wait()
			}
			<-discordDone
		},
	}
	if sa != nil && !cfg.Slack.SocketMode {
		opt.Slack = sa
	}
	// Deploys a stopped process left behind are reported once the chat
	// platforms can be posted to, while the server answers (/healthz
	// says "recovering"). The jobs below that act on runs and watches
	// start once it is done, as they did after it.
	recovered := make(chan struct{})
	opt.Recover = func(ctx context.Context) error {
		if err := sys.recover(ctx); err != nil {
			return err
		}
		close(recovered)
		return nil
	}
	srv := server.New(opt)
	if da != nil {
		srv.Handle("POST /discord/interactions", da)
	}
	switch {
	case sa != nil && da != nil:
		sys.notify.set(byPlatform{slack: sa.Client(), discord: da})
	case sa != nil:
		sys.notify.set(sa.Client())
	case da != nil:
		sys.notify.set(da)
	}
	switch {
	case cfg.Sentry.WebhookOff():
		// Mounted all the same: its 404 tells whoever set up the
		// integration that the bot has the webhook off, not that the
		// path is wrong.
		log.Info(config.WebhookOffNote)
		srv.HandleLimit("POST /sentry/webhook", &sentry.WebhookHandler{Log: log}, sentry.MaxWebhookBody)
	case cfg.Sentry.Configured():
		h := sentryWebhook(cfg.Sentry.WebhookSecret, sys.store, func(a sentry.Alert) { sys.alerts.Go(func() { sys.routeAlert(a) }) })
		h.Log, h.RefusalLog = log, refusalLog
		srv.HandleLimit("POST /sentry/webhook", h, sentry.MaxWebhookBody)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	// afterRecovery runs f in g once the recovery is done; not at all
	// when it failed or the bot stops first.
	afterRecovery := func(f func() error) {
		g.Go(func() error {
			select {
			case <-recovered:
				return f()
			case <-gctx.Done():
				return nil
			}
		})
	}
	if sys.trains != nil {
		afterRecovery(func() error { return sys.trains.Run(gctx) })
	}
	afterRecovery(func() error { return sys.trimmer.Run(gctx) })
	// Watches a stopped bot left are resumed once the chat platforms
	// can be posted to; with replicas, any of them takes over those of
	// one that died.
	var resumeEvery time.Duration
	if cfg.Store.Redis != nil {
		resumeEvery = recoveryInterval(cfg)
	}
	afterRecovery(func() error {
		sys.resumeWatches(gctx, resumeEvery)
		return nil
	})
	if cfg.Store.Redis != nil {
		// With replicas, any of them notices a deploy whose replica died
		// (its lease runs out), and one of them runs the scheduled jobs.
		afterRecovery(func() error {
			cluster.WatchInterrupted(gctx, sys.engine, recoveryInterval(cfg), log, sys.reportInterrupted)
			return nil
		})
		afterRecovery(func() error { return sys.leader.Run(gctx) })
	}
	if sa != nil && cfg.Slack.SocketMode {
		g.Go(func() error { return sa.RunSocketMode(gctx) })
	}
	if da != nil && cfg.Discord.Gateway {
		g.Go(func() error { return da.RunGateway(gctx) })
	}
	if da != nil {
		go func() {
			// Registering the slash commands is idempotent; a failure
			// leaves the ones registered before.
			ctx, cancel := context.WithTimeout(gctx, time.Minute)
			defer cancel()
			if err := da.RegisterCommands(ctx); err != nil {
				log.Warn("discord: could not register the slash commands", "err", err)
			}
		}()
	}
	return g.Wait()
}

// storeHealth is the check of /healthz: checkStore's error, named when
// the store answered, so that a Redis that answered (at maxmemory, a
// replica, refusing the password) is not reported as a store the network
// keeps the bot from; the embedded store's error is always named (see
// embedded.HealthCondition), as its file is local and nothing is
// unreachable: damaged, unmapped, on a full disk (refuses_writes), on a
// stalled disk that did not answer in time (stalled), failed by its disk
// (io_error), closed as the bot stops (closed), or failed otherwise.
func storeHealth(ctx context.Context, isRedis bool, store stateStore) error {
	err := checkStore(ctx, store)
	if err == nil {
		return nil
	}
	if !isRedis {
		condition, reply := embedded.HealthCondition(err)
		return &server.StoreError{Condition: condition, Reply: reply, Err: err}
	}
	if condition, reply := redis.HealthCondition(err); condition != redis.ConditionUnreachable {
		return &server.StoreError{Condition: condition, Reply: reply, Err: err}
	}
	return err
}

// checkStore is the health check of store: it reads it and, when it can
// tell, asks whether it takes writes.
func checkStore(ctx context.Context, store stateStore) error {
	if _, err := store.Locks(ctx); err != nil {
		return err
	}
	// A store that answers reads but refuses writes (a Redis replica, a
	// primary short of replicas, a file on a full disk) refuses every
	// command: unhealthy.
	if w, ok := store.(writeChecker); ok {
		return w.Writable(ctx)
	}
	return nil
}

// tokenCheckTimeout bounds the start-up's question to Slack or Discord.
const tokenCheckTimeout = 15 * time.Second

// checkSlackToken stops the start-up when Slack refuses the bot token:
// the bot would otherwise take commands (HTTP mode acknowledges them
// without the token) and run deploys whose every message Slack refuses,
// telling nobody but its log. Slack unreachable at start-up is not the
// token's fault; the bot starts and logs it.
func checkSlackToken(parent context.Context, c *slack.Client, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(parent, tokenCheckTimeout)
	defer cancel()
	err := c.CheckToken(ctx)
	switch {
	case errors.Is(err, slack.ErrTokenRefused):
		return fmt.Errorf("slack.bot_token: %w; nothing was started", err)
	case parent.Err() != nil:
		// Told to stop while asking: the start ends here, as asked.
		return parent.Err()
	case err != nil:
		log.Warn("slack: could not check the bot token; starting all the same", "err", err)
	}
	return nil
}

// checkDiscordToken stops the start-up when Discord refuses the bot
// token, for the reasons checkSlackToken gives: the interactions endpoint
// would take commands while every message the bot posts to a channel
// fails.
func checkDiscordToken(parent context.Context, da *discord.Adapter, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(parent, tokenCheckTimeout)
	defer cancel()
	err := da.CheckToken(ctx)
	switch {
	case errors.Is(err, discord.ErrTokenRefused):
		return fmt.Errorf("discord.bot_token: %w; nothing was started", err)
	case parent.Err() != nil:
		// Told to stop while asking: the start ends here, as asked.
		return parent.Err()
	case err != nil:
		log.Warn("discord: could not check the bot token; starting all the same", "err", err)
	}
	return nil
}

// newDiscord builds the Discord adapter from the config.
func newDiscord(cfg *config.Config, h discord.Handler, dedupe discord.Deduper, refusalLog *ratelog.Limiter, log *slog.Logger) (*discord.Adapter, error) {
	d := cfg.Discord
	users := map[string]string{}
	for name, u := range cfg.Users {
		if u.Discord != "" {
			users[u.Discord] = name
		}
	}
	// discordgo's own lines (a gateway it could not dial) would otherwise
	// go to standard error past the log's redaction.
	discord.SetLogger(log)
	return discord.New(discord.Options{
		PublicKey: d.PublicKey, BotToken: d.BotToken, ApplicationID: d.ApplicationID, GuildID: d.GuildID, APIURL: d.APIURL,
		Users: users, Catalog: commands.CatalogOf(cfg), EnvChannel: func(app, env string) string {
			if a, ok := cfg.App(app); ok {
				if e, ok := a.Env(env); ok {
					return e.Channel
				}
			}
			return ""
		},
		Handler: h, Dedupe: dedupe, Log: log, RefusalLog: refusalLog,
	})
}

// timedHandler records how long each command takes, by platform.
type timedHandler struct {
	h discord.Handler
	m *server.Metrics
}

func (t timedHandler) Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome {
	start := time.Now()
	defer func() { t.m.ObserveCommand(req.Platform, time.Since(start)) }()
	return t.h.Handle(ctx, req, out)
}

func (t timedHandler) AuditRefusal(ctx context.Context, req commands.Request) error {
	return t.h.AuditRefusal(ctx, req)
}

func (t timedHandler) AuditDroppedReply(ctx context.Context, req commands.Request, title, why string) error {
	return t.h.AuditDroppedReply(ctx, req, title, why)
}

func (t timedHandler) NoteUndelivered(u commands.Undelivered) {
	t.h.NoteUndelivered(u)
}

// sentryWebhook is the Sentry webhook with its duplicate check in store.
// A body delivered again is dropped: Sentry signs the body, not its time,
// so one captured could be replayed. The handler drops one older than it
// remembers keys for. The key of a delivery refused for Sentry to send
// again is forgotten, by its own token only.
func sentryWebhook(secret string, store stateStore, onAlert func(sentry.Alert)) *sentry.WebhookHandler {
	return &sentry.WebhookHandler{Secret: secret, OnAlert: onAlert,
		First: func(ctx context.Context, key, token string) (bool, error) {
			return store.SetOnceToken(ctx, key, token, sentry.DedupeRetention)
		},
		Forget: store.ForgetOnce,
	}
}
