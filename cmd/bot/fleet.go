package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/haproxy"
	"github.com/switchman-bot/switchman/internal/ssh"
)

// fleet holds the SSH transport of every ssh env, built at start-up so that
// a missing key or known_hosts file stops the bot with a clear message
// instead of failing a deploy later.
type fleet struct {
	transports map[string]deploy.Transport // by app/env
	pools      map[string]deploy.Pool      // by app/env
	ssh        []*ssh.Transport            // to close their warm connections
}

// close closes the connections the SSH transports keep warm.
func (f *fleet) close() {
	for _, tr := range f.ssh {
		_ = tr.Close() // it reports nothing
	}
}

func newFleet(cfg *config.Config, log *slog.Logger) (*fleet, error) {
	f := &fleet{transports: map[string]deploy.Transport{}, pools: map[string]deploy.Pool{}}
	// The logins to one bastion are bounded together, whichever env they
	// are for: its sshd counts them all against its MaxStartups.
	bastions := map[string]*ssh.Startups{}
	for _, appName := range cfg.AppNames() {
		app, _ := cfg.App(appName)
		for _, envName := range app.EnvNames() {
			env, _ := app.Env(envName)
			key := appName + "/" + envName
			var tr *ssh.Transport
			if env.Transport == "ssh" {
				var err error
				if tr, err = sshTransport(env.SSH, bastions, log.With("app", appName, "env", envName)); err != nil {
					return nil, fmt.Errorf("%s: %w", key, err)
				}
				f.transports[key] = tr
				f.ssh = append(f.ssh, tr)
			}
			if env.Pool != nil && env.Pool.HAProxy != nil {
				pool, err := haproxyPool(env.Pool.HAProxy, tr)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", key, err)
				}
				f.pools[key] = pool
			}
		}
	}
	return f, nil
}

// haproxyPool reaches HAProxy's runtime API directly, or through an SSH
// connection to the host named by via.
func haproxyPool(h *config.HAProxy, tr *ssh.Transport) (*haproxy.Pool, error) {
	network, addr, err := config.SplitSocket(h.Socket)
	if err != nil {
		return nil, fmt.Errorf("pool.haproxy.socket: %w", err)
	}
	var dial haproxy.Dialer
	switch {
	case h.Via != "" && tr == nil:
		return nil, fmt.Errorf("pool.haproxy.via needs transport: ssh")
	case h.Via != "":
		via := deploy.Host{Name: h.Via, Address: h.Via}
		dial = func(ctx context.Context) (net.Conn, error) { return tr.Dial(ctx, via, network, addr) }
	case network == "unix":
		dial = haproxy.UnixDialer(addr)
	default:
		dial = haproxy.TCPDialer(addr)
	}
	return &haproxy.Pool{Client: &haproxy.Client{Dial: dial}, Backend: h.Backend, Server: h.Server,
		DrainTimeout: h.DrainTimeout.D(), ReadyTimeout: h.ReadyTimeout.D()}, nil
}

// pool is the engine's Options.Pools.
func (f *fleet) pool(app *config.App, env *config.Env) (deploy.Pool, error) {
	if p, ok := f.pools[app.Name+"/"+env.Name]; ok {
		return p, nil
	}
	return nil, nil
}

// sshTransport builds an env's transport; bastions holds the bound of
// each bastion's logins, by address, shared by the envs behind it.
func sshTransport(c *config.SSH, bastions map[string]*ssh.Startups, log *slog.Logger) (*ssh.Transport, error) {
	cfg := ssh.Config{
		User:                  c.User,
		KeyFile:               c.KeyFile,
		Passphrase:            c.Passphrase,
		UseAgent:              c.Agent,
		KnownHostsFile:        c.KnownHosts,
		InsecureIgnoreHostKey: c.InsecureIgnoreHostKey,
		ConnectTimeout:        c.ConnectTimeout.D(),
		KeepAlive:             c.KeepAlive.D(),
		KeepWarm:              c.KeepWarm.D(),
		Port:                  c.Port,
		Log:                   log,
	}
	if c.Jump != nil {
		key := c.Jump.HostPort()
		if bastions[key] == nil {
			bastions[key] = ssh.NewStartups(c.Jump.MaxStartups)
		}
		cfg.Jump = &ssh.JumpHost{Address: c.Jump.Address, User: c.Jump.User, Startups: bastions[key]}
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
