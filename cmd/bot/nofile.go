package main

import (
	"fmt"

	"github.com/switchman-bot/switchman/internal/config"
)

// filesPerHost is how many connections the bot may hold to one SSH host
// at once: a deploy's or rollback's (kept warm after it), and a status
// read's beside it.
const filesPerHost = 2

// otherFiles is a margin for every other file the bot holds: its store,
// listener and chat connections, a Redis pool, health checks, artifact
// reads, the local transport's pipes.
const otherFiles = 256

// minConns is the least bound of maxConns: ample for Slack, Discord,
// Sentry, a scraper and a load balancer's checks, and within otherFiles.
const minConns = 32

// maxConnsUnbounded is past what connections could take before anything
// else gives out: beyond it, maxConns sets no bound.
const maxConnsUnbounded = 1 << 20

// checkOpenFiles refuses a config whose SSH hosts the bot could not hold
// connections to within limit open files (RLIMIT_NOFILE; 0 when unknown).
// Past it every new connection, file and socket fails with "too many
// open files", in the middle of a deploy: hosts reported unreachable that
// are not, a build that "cannot be read", a health check that fails on a
// healthy host and switches it back.
func checkOpenFiles(cfg *config.Config, limit uint64) error {
	need, hosts := filesNeeded(cfg)
	if limit == 0 || hosts == 0 || need <= limit {
		return nil
	}
	return fmt.Errorf("%s: the bot may need %d open files (%d for each of its %d SSH hosts, a deploy's connection and a status's, and %d more), but may open %d (RLIMIT_NOFILE); raise it (LimitNOFILE= in a systemd unit, --ulimit nofile= with Docker, ulimit -n in a shell); nothing was started",
		cfg.File, need, filesPerHost, hosts, otherFiles, limit)
}

// filesNeeded returns how many open files the bot may need, and how many
// SSH hosts that counts.
func filesNeeded(cfg *config.Config) (need uint64, hosts int) {
	for _, appName := range cfg.AppNames() {
		app, _ := cfg.App(appName)
		for _, envName := range app.EnvNames() {
			if env, _ := app.Env(envName); env.Transport == "ssh" {
				hosts += len(env.Hosts)
			}
		}
	}
	return uint64(filesPerHost*hosts + otherFiles), hosts
}

// maxConns bounds the HTTP connections `bot serve` holds at once (see
// server.Options.MaxConns): half the files limit leaves beside what the
// bot may need, and at least minConns; 0, no bound, when limit is
// unknown or leaves more than maxConnsUnbounded. Anyone who reaches the
// listener can open connections, each an open file; unbounded, they took
// the files of a deploy's SSH connections.
func maxConns(cfg *config.Config, limit uint64) int {
	need, _ := filesNeeded(cfg)
	switch {
	case limit == 0:
		return 0
	case limit <= need+2*minConns:
		return minConns
	case (limit-need)/2 > maxConnsUnbounded:
		return 0
	}
	return int((limit - need) / 2)
}
