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

// checkOpenFiles refuses a config whose SSH hosts the bot could not hold
// connections to within limit open files (RLIMIT_NOFILE; 0 when unknown).
// Past it every new connection, file and socket fails with "too many
// open files", in the middle of a deploy: hosts reported unreachable that
// are not, a build that "cannot be read", a health check that fails on a
// healthy host and switches it back.
func checkOpenFiles(cfg *config.Config, limit uint64) error {
	hosts := 0
	for _, appName := range cfg.AppNames() {
		app, _ := cfg.App(appName)
		for _, envName := range app.EnvNames() {
			if env, _ := app.Env(envName); env.Transport == "ssh" {
				hosts += len(env.Hosts)
			}
		}
	}
	need := uint64(filesPerHost*hosts + otherFiles)
	if limit == 0 || hosts == 0 || need <= limit {
		return nil
	}
	return fmt.Errorf("%s: the bot may need %d open files (%d for each of its %d SSH hosts, a deploy's connection and a status's, and %d more), but may open %d (RLIMIT_NOFILE); raise it (LimitNOFILE= in a systemd unit, --ulimit nofile= with Docker, ulimit -n in a shell); nothing was started",
		cfg.File, need, filesPerHost, hosts, otherFiles, limit)
}
