package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/server"
)

// drainTimeout bounds how long a stopping bot waits for running deploys.
const drainTimeout = 5 * time.Minute

// serve runs the HTTP server (/healthz, /metrics, and Slack's endpoints in
// HTTP mode) and, in Socket Mode, the Slack connection, until ctx is done
// or one of them fails. Then it stops taking commands and lets running
// deploys finish and post their final state (bounded by drainTimeout).
func serve(ctx context.Context, cfg *config.Config, sys *system, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := server.NewMetrics(reg)
	handler := timedHandler{h: sys.service, m: metrics}

	var sa *slack.Adapter
	if cfg.Slack.Configured() {
		var err error
		sa, err = slack.New(slack.Options{Config: cfg, Handler: handler, Dedupe: sys.store, Log: log})
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.File, err)
		}
		defer sa.Close()
	}
	opt := server.Options{
		Addr:     cfg.Bot.Listen,
		Registry: reg,
		Metrics:  metrics,
		Log:      log,
		Health: func(ctx context.Context) error {
			_, err := sys.store.Locks(ctx)
			return err
		},
		DrainTimeout: drainTimeout,
		Drain: func() {
			if sa != nil {
				sa.Stop()
			}
			sys.engine.Wait()
			if sa != nil {
				sa.Wait()
			}
		},
	}
	if sa != nil && !cfg.Slack.SocketMode {
		opt.Slack = sa
	}
	srv := server.New(opt)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	if sa != nil && cfg.Slack.SocketMode {
		g.Go(func() error { return sa.RunSocketMode(gctx) })
	}
	return g.Wait()
}

// timedHandler records how long each command takes, by platform.
type timedHandler struct {
	h slack.Handler
	m *server.Metrics
}

func (t timedHandler) Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome {
	start := time.Now()
	defer func() { t.m.ObserveCommand(req.Platform, time.Since(start)) }()
	return t.h.Handle(ctx, req, out)
}
