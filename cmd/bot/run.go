package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/chat/console"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

type stdio struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// exitCode is returned by run to exit with a status and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `usage: bot [-config FILE] COMMAND

commands:
  console        read chat commands from stdin (one per line) and print replies
  serve          run the HTTP server (health checks; chat endpoints)
  check-config   validate the config and print a summary
  version        print the version

-config defaults to $SWITCHMAN_CONFIG, else switchman.yaml.
`

// run is the whole program; main and the end-to-end tests call it.
func run(ctx context.Context, args []string, std stdio) error {
	fs := flag.NewFlagSet("bot", flag.ContinueOnError)
	fs.SetOutput(std.Err)
	fs.Usage = func() { fmt.Fprint(std.Err, usage) }
	defaultConfig := os.Getenv("SWITCHMAN_CONFIG")
	if defaultConfig == "" {
		defaultConfig = "switchman.yaml"
	}
	cfgPath := fs.String("config", defaultConfig, "configuration file")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitCode(2)
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	// Flags may also follow the command: bot console -config FILE.
	sub := flag.NewFlagSet("bot "+cmd, flag.ContinueOnError)
	sub.SetOutput(std.Err)
	sub.StringVar(cfgPath, "config", *cfgPath, "configuration file")
	if err := sub.Parse(rest); err != nil {
		return exitCode(2)
	}
	if sub.NArg() > 0 {
		fmt.Fprintf(std.Err, "bot %s: unexpected argument %q\n", cmd, sub.Arg(0))
		return exitCode(2)
	}

	switch cmd {
	case "version":
		fmt.Fprintln(std.Out, "switchman", version)
		return nil
	case "check-config":
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintln(std.Err, err)
			return exitCode(1)
		}
		if _, err := policyFrom(cfg); err != nil {
			fmt.Fprintf(std.Err, "%s: %v\n", cfg.File, err)
			return exitCode(1)
		}
		fmt.Fprintf(std.Out, "%s: OK\n%s", cfg.File, cfg.Summary())
		return nil
	case "console", "serve":
	default:
		fmt.Fprintf(std.Err, "bot: unknown command %q\n", cmd)
		fs.Usage()
		return exitCode(2)
	}

	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(std.Err, err)
		return exitCode(1)
	}
	log := newLogger(std.Err, cfg.Bot.LogLevel)
	sys, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer sys.close()

	if cmd == "console" {
		return runConsole(ctx, cfg, sys, std)
	}
	return serve(ctx, cfg, sys, log)
}

// system is the wired bot.
type system struct {
	store   *embedded.Store
	engine  *deploy.Engine
	service *commands.Service
	log     *slog.Logger
}

func (s *system) close() {
	if err := s.store.Close(); err != nil {
		s.log.Error("close store", "err", err)
	}
}

// start opens the store, wires the engine and the command service, and
// marks deploys that a previous process left unfinished as interrupted.
func start(ctx context.Context, cfg *config.Config, log *slog.Logger) (*system, error) {
	policy, err := policyFrom(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	st, err := embedded.Open(cfg.Store.Path, embedded.Options{})
	if err != nil {
		return nil, err
	}
	engine := deploy.NewEngine(deploy.Options{
		Config:     cfg,
		Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store:      st,
		Leases:     st,
		Locks:      st,
		Log:        log,
	})
	sys := &system{store: st, engine: engine, log: log,
		service: commands.NewService(commands.Deps{Config: cfg, Engine: engine, Store: st, Policy: policy, Log: log})}
	interrupted, err := engine.Recover(ctx)
	if err != nil {
		sys.close()
		return nil, fmt.Errorf("recover interrupted deploys: %w", err)
	}
	for _, r := range interrupted {
		log.Warn("a deploy was interrupted by a stop of the bot; see /status", "deploy", r.ID, "app", r.App, "env", r.Env, "build", r.Build)
	}
	return sys, nil
}

func runConsole(ctx context.Context, cfg *config.Config, sys *system, std stdio) error {
	u := cfg.Bot.ConsoleUser
	if u == "" {
		u = osUser()
	}
	interactive := false
	if f, ok := std.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		interactive = true
		fmt.Fprintf(std.Out, "Switchman %s — console as %s. Type help, or Ctrl-D to quit.\n", version, u)
	}
	c := &console.Console{In: std.In, Out: std.Out, User: u, Handler: sys.service, Interactive: interactive, Wait: sys.engine.Wait}
	if !c.Run(ctx) {
		return exitCode(1)
	}
	return nil
}

func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "console"
}

// serve runs the HTTP server until ctx is done, then stops taking requests
// and lets running deploys finish (bounded).
func serve(ctx context.Context, cfg *config.Config, sys *system, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Addr: cfg.Bot.Listen, Handler: mux, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving", "addr", cfg.Bot.Listen)
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", cfg.Bot.Listen, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("shutdown", "err", err)
	}
	waitBounded(sys.engine.Wait, 5*time.Minute, log)
	return nil
}

// waitBounded waits for running deploys, but not forever.
func waitBounded(wait func(), limit time.Duration, log *slog.Logger) {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		log.Error("deploys still running at shutdown; they will show as interrupted at the next start", "waited", limit)
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// policyFrom builds the access policy from the config.
func policyFrom(cfg *config.Config) (*acl.Policy, error) {
	seen := map[string]bool{}
	var users []string
	for _, list := range [][]string{slices.Collect(maps.Keys(cfg.Users)), cfg.Admins, cfg.Deployers} {
		for _, u := range list {
			if !seen[u] {
				seen[u] = true
				users = append(users, u)
			}
		}
	}
	rules := acl.Rules{
		Users: users,
		Roles: map[string][]acl.Action{
			"admin":    {acl.Admin},
			"deployer": {acl.Deploy, acl.Rollback, acl.Cancel, acl.Lock, acl.Unlock, acl.Confirm},
		},
		Bindings: []acl.Binding{{Role: "admin", Users: cfg.Admins}, {Role: "deployer", Users: cfg.Deployers}},
	}
	return acl.New(rules)
}
