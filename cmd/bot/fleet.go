package main

import (
	"fmt"
	"log/slog"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/ssh"
)

// fleet holds the SSH transport of every ssh env, built at start-up so that
// a missing key or known_hosts file stops the bot with a clear message
// instead of failing a deploy later.
type fleet struct {
	transports map[string]deploy.Transport // by app/env
}

func newFleet(cfg *config.Config, log *slog.Logger) (*fleet, error) {
	f := &fleet{transports: map[string]deploy.Transport{}}
	for _, appName := range cfg.AppNames() {
		app, _ := cfg.App(appName)
		for _, envName := range app.EnvNames() {
			env, _ := app.Env(envName)
			if env.Transport != "ssh" {
				continue
			}
			tr, err := sshTransport(env.SSH, log.With("app", appName, "env", envName))
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", appName, envName, err)
			}
			f.transports[appName+"/"+envName] = tr
		}
	}
	return f, nil
}

func sshTransport(c *config.SSH, log *slog.Logger) (*ssh.Transport, error) {
	cfg := ssh.Config{
		User:                  c.User,
		KeyFile:               c.KeyFile,
		Passphrase:            c.Passphrase,
		UseAgent:              c.Agent,
		KnownHostsFile:        c.KnownHosts,
		InsecureIgnoreHostKey: c.InsecureIgnoreHostKey,
		ConnectTimeout:        c.ConnectTimeout.D(),
		KeepAlive:             c.KeepAlive.D(),
		Port:                  c.Port,
		Log:                   log,
	}
	if c.Jump != nil {
		cfg.Jump = &ssh.JumpHost{Address: c.Jump.Address, User: c.Jump.User}
	}
	return ssh.New(cfg)
}

// transport is the engine's Options.Transport.
func (f *fleet) transport(app *config.App, env *config.Env) (deploy.Transport, error) {
	tr, ok := f.transports[app.Name+"/"+env.Name]
	if !ok {
		return nil, fmt.Errorf("no %s transport was set up", env.Transport)
	}
	return tr, nil
}
