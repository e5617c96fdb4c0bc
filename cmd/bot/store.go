package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/retention"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/train"
)

// stateStore is what the bot needs of its store: the embedded file for a
// single process, Redis for replicas.
type stateStore interface {
	commands.Store
	deploy.Store
	deploy.Leaser
	deploy.LockStore
	deploy.Signals
	train.Store
	retention.Store
	watchstore.Store
	SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// SetOnceToken and ForgetOnce are the Sentry webhook's duplicate
	// check, which undoes itself for a delivery it refused for Sentry to
	// send again: ForgetOnce removes key only while it holds token.
	SetOnceToken(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	ForgetOnce(ctx context.Context, key, token string) error
	Close() error
}

var (
	_ stateStore = (*embedded.Store)(nil)
	_ stateStore = (*redis.Store)(nil)
)

// storeNow, when set, is the Redis store's clock instead of time.Now: a
// test's replica whose clock is off Redis's.
var storeNow func() time.Time

// openStore opens Redis when the config names one, else the embedded file.
// An unreachable Redis stops the bot: nothing falls back to a local store.
// What go-redis logs itself (failed dials) goes to log, as do the Redis
// store's own warnings (no append-only file) and errors (reset). readOnly
// opens Redis as openHistory needs it (see redis.Options.ReadOnly).
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger, readOnly bool) (stateStore, error) {
	r := cfg.Store.Redis
	if r == nil {
		return embedded.OpenContext(ctx, cfg.Store.Path, embedded.Options{Log: log})
	}
	redis.SetLogger(log)
	// Leases are renewed every third of lease_ttl: a quarter leaves room
	// for a renewal's round trip, and for two replicas each that far off
	// in opposite directions (half of lease_ttl in all).
	opt := redis.Options{URL: r.URL, Prefix: r.Prefix, Log: log, ReadOnly: readOnly, MaxClockSkew: cfg.Bot.LeaseTTL.D() / 4, Now: storeNow}
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, fmt.Errorf("store.redis.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store.redis.ca_file %s: no PEM certificates", r.CAFile)
		}
		opt.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return redis.Open(ctx, opt)
}

// openHistory opens the store to read it (bot audit): an embedded file
// that does not exist, or a Redis prefix that holds no store, is an error
// naming it, not a new empty store whose empty history would pass for the
// real one.
func openHistory(ctx context.Context, cfg *config.Config, log *slog.Logger) (stateStore, error) {
	if cfg.Store.Redis == nil {
		return embedded.OpenContext(ctx, cfg.Store.Path, embedded.Options{ReadOnly: true})
	}
	return openStore(ctx, cfg, log, true)
}
