package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/term"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat/console"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/cluster"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/redact"
	"github.com/switchman-bot/switchman/internal/retention"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/server"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/train"
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
  audit          export the audit log as JSON lines (-since 24h|7d|2026-11-01, -app APP)
  version        print the version

-config defaults to $SWITCHMAN_CONFIG, else switchman.yaml.
console and serve also take -cpuprofile FILE and -memprofile FILE (pprof).
`

// parseExit is what a failed parse of the command line exits with: -h or
// -help asked for the usage, which the flag set has printed (as the flag
// package's own ExitOnError does, with status 0); anything else is a
// command line the bot does not understand.
func parseExit(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return exitCode(2)
}

// loadConfig loads the config at path. chosen says whether -config or
// $SWITCHMAN_CONFIG named it: a missing default file (the first run of
// bot console in a checkout, say) is then explained, as "open
// switchman.yaml" alone does not say where that name came from.
func loadConfig(path string, chosen bool) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil && !chosen && errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (the default config file: name one with -config FILE or $SWITCHMAN_CONFIG)", err)
	}
	return cfg, err
}

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
		return parseExit(err)
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
	var since, auditApp, cpuProfile, memProfile *string
	if cmd == "console" || cmd == "serve" {
		cpuProfile = sub.String("cpuprofile", "", "write a CPU profile (pprof) to this file until the bot exits")
		memProfile = sub.String("memprofile", "", "write an allocation profile (pprof) to this file when the bot exits")
	}
	if cmd == "audit" {
		since = sub.String("since", "", "only entries since a duration ago (24h, 7d), a date (2026-11-01: from midnight UTC) or an RFC 3339 time")
		auditApp = sub.String("app", "", "only entries about this app")
	}
	if err := sub.Parse(rest); err != nil {
		return parseExit(err)
	}
	if sub.NArg() > 0 {
		fmt.Fprintf(std.Err, "bot %s: unexpected argument %q\n", cmd, sub.Arg(0))
		return exitCode(2)
	}
	cfgChosen := os.Getenv("SWITCHMAN_CONFIG") != ""
	for _, set := range []*flag.FlagSet{fs, sub} {
		set.Visit(func(f *flag.Flag) { cfgChosen = cfgChosen || f.Name == "config" })
	}

	switch cmd {
	case "version":
		fmt.Fprintln(std.Out, "switchman", version)
		return nil
	case "check-config":
		cfg, err := loadConfig(*cfgPath, cfgChosen)
		if err != nil {
			fmt.Fprintln(std.Err, err)
			return exitCode(1)
		}
		policy, err := policyFrom(cfg)
		if err != nil {
			fmt.Fprintf(std.Err, "%s: %v\n", cfg.File, err)
			return exitCode(1)
		}
		if r := cfg.Store.Redis; r != nil {
			// What the store would refuse before it dials, which the
			// config's own checks let through.
			if err := redis.CheckURL(r.URL, r.CAFile != ""); err != nil {
				fmt.Fprintf(std.Err, "%s: store.redis: %v\n", cfg.File, err)
				return exitCode(1)
			}
		}
		var notCreatable []string
		if cfg.Store.Redis == nil {
			// What would stop serve and console on this machine, and
			// what they would warn of; the file is not opened: the bot
			// may be running with it.
			err := embedded.Check(cfg.Store.Path, newLogger(std.Err, cfg))
			switch {
			case errors.Is(err, embedded.ErrNotCreatable):
				// Warned of below, in the bot's words: a config is
				// often checked where it does not run.
				notCreatable = []string{"store.path: " + err.Error()}
			case err != nil:
				fmt.Fprintf(std.Err, "%s: %v\n", cfg.File, err)
				return exitCode(1)
			}
		}
		fmt.Fprintf(std.Out, "%s: OK\n%s", cfg.File, cfg.Summary())
		if cfg.Sentry.WebhookOff() {
			fmt.Fprintf(std.Out, "note: %s\n", config.WebhookOffNote)
		}
		if unseen := noSlackID(cfg, policy.Admins()); len(unseen) > 0 && cfg.Slack.Configured() && requiresAdminPresent(cfg) {
			fmt.Fprintf(std.Out, "note: %s\n", unseenAdminsNote(unseen))
		}
		if missing := append(notCreatable, cfg.UnreadableFiles()...); len(missing) > 0 {
			// A config is often checked where it does not run (CI
			// without the secrets): said, not refused.
			fmt.Fprintf(std.Err, "warning: the bot would not start here: it cannot open (or create) files the config names:\n  %s\n", strings.Join(missing, "\n  "))
		}
		if inline := cfg.InlineSecrets(); len(inline) > 0 {
			fmt.Fprintf(std.Err, "warning: %s:\n  %s\n", inlineSecretsWarning, strings.Join(inline, "\n  "))
		}
		if exposed := cfg.ExposedKeyFiles(); len(exposed) > 0 {
			fmt.Fprintf(std.Err, "warning: %s:\n  %s\n", exposedKeysWarning, strings.Join(exposed, "\n  "))
		}
		if misleading := cfg.MisleadingZones(); len(misleading) > 0 {
			fmt.Fprintf(std.Err, "warning: %s:\n  %s\n", misleadingZonesWarning, strings.Join(misleading, "\n  "))
		}
		if either := cfg.EitherDays(); len(either) > 0 {
			fmt.Fprintf(std.Err, "warning: %s:\n  %s\n", eitherDaysWarning, strings.Join(either, "\n  "))
		}
		return nil
	case "audit":
		return exportAudit(ctx, *cfgPath, cfgChosen, *since, *auditApp, std)
	case "console", "serve":
	default:
		fmt.Fprintf(std.Err, "bot: unknown command %q\n", cmd)
		fs.Usage()
		return exitCode(2)
	}

	cfg, err := loadConfig(*cfgPath, cfgChosen)
	if err != nil {
		fmt.Fprintln(std.Err, err)
		return exitCode(1)
	}
	var consoleAs string
	if cmd == "console" {
		// Before start opens the store: a console that may not run leaves it alone.
		if consoleAs, err = consoleUser(cfg.Bot.ConsoleUser, osUser); err != nil {
			fmt.Fprintf(std.Err, "%s: %v\n", cfg.File, err)
			return exitCode(1)
		}
	}
	log := newLogger(std.Err, cfg)
	if inline := cfg.InlineSecrets(); len(inline) > 0 {
		log.Warn(inlineSecretsWarning, "keys", strings.Join(inline, ", "))
	}
	for _, k := range cfg.ExposedKeyFiles() {
		log.Warn(exposedKeysWarning, "key", k)
	}
	for _, z := range cfg.MisleadingZones() {
		log.Warn(misleadingZonesWarning, "zone", z)
	}
	for _, sc := range cfg.EitherDays() {
		log.Warn(eitherDaysWarning, "schedule", sc)
	}
	stopProfile, err := startProfile(*cpuProfile, *memProfile)
	if err != nil {
		return err
	}
	defer func() {
		if err := stopProfile(); err != nil {
			log.Error("write profile", "err", err)
		}
	}()
	var ln, metricsLn net.Listener
	var early *server.Early
	if cmd == "serve" {
		// Before start, which marks deploys left unfinished interrupted
		// and reports them: a bot that cannot listen (the address is
		// taken, another replica on the same machine) changes nothing.
		if ln, err = net.Listen("tcp", cfg.Bot.Listen); err != nil {
			return fmt.Errorf("%s: bot.listen: %w; nothing was started", cfg.File, err)
		}
		defer ln.Close()
		if cfg.Bot.MetricsListen != "" {
			if metricsLn, err = net.Listen("tcp", cfg.Bot.MetricsListen); err != nil {
				return fmt.Errorf("%s: bot.metrics_listen: %w; nothing was started", cfg.File, err)
			}
			defer metricsLn.Close()
		}
		// Answered from now on: the start (opening the store, asking
		// Slack and Discord for their tokens) may take half a minute,
		// and a health probe left unanswered as long times out as if
		// the bot had hung; /healthz says "starting" meanwhile.
		early = server.ServeEarly(server.EarlyOptions{Listener: ln, MetricsListener: metricsLn, MaxConns: maxConns(cfg, openFileLimit()), Log: log})
		defer early.Close()
	}
	sys, err := start(ctx, cfg, log)
	if err != nil {
		return stoppedAsAsked(ctx, err)
	}
	defer sys.close()

	if cmd == "console" {
		return runConsole(ctx, cfg, sys, consoleAs, std)
	}
	return stoppedAsAsked(ctx, serve(ctx, cfg, sys, early, metricsLn, log))
}

// stoppedAsAsked returns nil for an error that only says ctx ended: a
// signal that arrived while the bot started (opening the store, asking
// Slack for its token, recovering deploys) stops it as asked, with exit
// status 0 as once it runs, rather than as a start that failed.
func stoppedAsAsked(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// system is the wired bot.
type system struct {
	cfg      *config.Config
	store    stateStore
	engine   *deploy.Engine
	service  *commands.Service
	registry *prometheus.Registry
	metrics  *server.DeployMetrics
	statsd   *server.StatsD // nil without bot.statsd
	notify   *relay
	watcher  *postdeploy.Watcher // nil without Sentry
	leader   *cluster.Leader     // runs scheduled jobs on one replica
	trains   *train.Scheduler    // also without trains: cars of removed ones
	trimmer  *retention.Trimmer  // deletes history past store.retention
	fleet    *fleet
	log      *slog.Logger
	alerts   sync.WaitGroup // Sentry alerts being routed to chat
}

// close stops what uses the hosts and the store before closing them: the
// watches first, which could still start an automatic rollback.
func (s *system) close() {
	s.stopWatches()
	s.alerts.Wait()
	if s.statsd != nil {
		// The markers of the deploys that finished as the bot stopped.
		s.statsd.Wait()
	}
	s.fleet.close()
	if err := s.store.Close(); err != nil {
		s.log.Error("close store", "err", err)
	}
}

// stopWatches ends the post-deploy watches, so that no automatic rollback
// starts once the bot is stopping. Deploys that finish before it are
// still registered with Sentry (see postdeploy.Watcher.Close).
func (s *system) stopWatches() {
	if s.watcher != nil {
		s.watcher.Close()
	}
}

// resumeWatches goes on with the error watches that no bot runs: those a
// stopped bot left, at once, and with replicas (every, when not zero),
// those of a replica that died once their lease runs out. It returns when
// ctx ends, or after the first round when every is zero.
func (s *system) resumeWatches(ctx context.Context, every time.Duration) {
	if s.watcher == nil {
		return
	}
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		n, err := s.watcher.Resume(ctx)
		if n > 0 {
			s.log.Info("error watches resumed", "watches", n)
		}
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, deploy.ErrStoreReset):
			// Said once: the store refuses every call until the bot
			// restarts, and asked again every round it warned each
			// time for as long as the replica ran.
			s.log.Error("the state store was reset: this replica resumes no error watches until the bot restarts", "err", err)
			return
		default:
			// A skewed clock is said once by the store, not every
			// round; what failed besides it is said.
			if err := cluster.Unsaid(err); err != nil {
				s.log.Warn("resume error watches", "err", err)
			}
		}
		if tick == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// recover marks deploys a stopped process left unfinished as interrupted
// and reports each one: at start-up, and (with several replicas) whenever
// another replica's lease runs out.
func (s *system) recover(ctx context.Context) error {
	interrupted, err := s.engine.Recover(ctx)
	for _, r := range interrupted {
		s.reportInterrupted(r)
	}
	// The error joins each app+env's failure. What failed besides a
	// skewed clock stops the start, as it did alone: a clock's refusal
	// among them must not let the others pass unsaid.
	if rest := cluster.Unsaid(err); rest != nil {
		return fmt.Errorf("recover interrupted deploys: %w", rest)
	}
	if err != nil {
		// Only the clock's refusals. Not a failure to start: the
		// replica serves every command but those that take a lease,
		// and the look-out for dead replicas recovers these runs once
		// its clock is in sync (or another replica does). Stopping
		// made it refuse to start while another replica deployed, the
		// lease of whose run it could not take.
		s.log.Warn("deploys left running are not recovered by this replica while its clock is off Redis's", "err", err)
	}
	return nil
}

// recoverLeftHeld looks again, every interval until ttl (the lease TTL)
// and two intervals have passed, for the deploys a stopped process left
// running whose lease was still held when start-up recovery looked, and
// reports those it marks interrupted. It returns nil when none was left
// running, else a func that stops the search and waits for it.
func (s *system) recoverLeftHeld(ctx context.Context, ttl, interval time.Duration) (stop func()) {
	left, err := s.store.Records(ctx, deploy.Filter{Outcome: deploy.OutcomeRunning, Limit: 1})
	if err != nil {
		s.log.Warn("look for deploys left running", "err", err)
	}
	if len(left) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, ttl+2*interval)
	done := make(chan struct{})
	go func() {
		defer close(done)
		cluster.WatchInterrupted(wctx, s.engine, interval, s.log, s.reportInterrupted)
	}()
	return func() { cancel(); <-done }
}

// start opens the store, wires the engine and the command service, and
// marks deploys that a previous process left unfinished as interrupted.
func start(ctx context.Context, cfg *config.Config, log *slog.Logger) (*system, error) {
	policy, err := policyFrom(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	if err := checkOpenFiles(cfg, openFileLimit()); err != nil {
		return nil, err
	}
	fl, err := newFleet(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	st, err := openStore(ctx, cfg, log, false)
	if err != nil {
		return nil, err
	}
	replica := replicaID()
	sys := &system{cfg: cfg, store: st, fleet: fl, log: log, notify: &relay{log: log}, registry: prometheus.NewRegistry(),
		leader: &cluster.Leader{Leases: st, ID: replica, TTL: cfg.Bot.LeaseTTL.D(), Log: log}}
	sys.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	server.RegisterBuildInfo(sys.registry, version)
	dm := server.NewDeployMetrics(sys.registry, func(ctx context.Context) (int, error) {
		l, err := st.Locks(ctx)
		return len(l), err
	}, log)
	for _, app := range cfg.AppNames() {
		for _, env := range cfg.Apps[app].EnvNames() {
			dm.Known(app, env)
		}
	}
	sys.metrics = dm
	observers := []deploy.Sink{dm.Observe}
	if cfg.Bot.StatsD != "" {
		sys.statsd = &server.StatsD{Addr: cfg.Bot.StatsD, Log: log}
		observers = append(observers, sys.statsd.Observe)
	}
	var engine *deploy.Engine
	if cfg.Sentry.Configured() {
		sc, err := sentry.New(sentry.Options{BaseURL: cfg.Sentry.URL, Token: cfg.Sentry.Token, Log: log})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("%s: sentry: %w", cfg.File, err)
		}
		sys.watcher = postdeploy.New(postdeploy.Options{Config: cfg, Sentry: sc, Notifier: sys.notify, Audit: st, History: st,
			Rollback: rollbackFunc(func(ctx context.Context, req deploy.Request, sink deploy.Sink) (*deploy.Record, error) {
				return engine.Rollback(ctx, req, sink)
			}), Gate: gateFunc(func(ctx context.Context, app, env string) []string {
				return sys.service.RollbackPasses(ctx, app, env)
			}), Channel: channelFor(cfg), Reaches: sys.notify.reaches, Log: log,
			// Watches are saved, so that the next bot to run (this one
			// restarted, or another replica) goes on with them.
			Watches: st, Leases: st, LeaseTTL: cfg.Bot.LeaseTTL.D(), Replica: replica})
		observers = append(observers, sys.watcher.Observe)
	}
	eopt := deploy.Options{
		LeaseTTL:   cfg.Bot.LeaseTTL.D(),
		Observers:  observers,
		Config:     cfg,
		Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Transport:  fl.transport,
		Pools:      fl.pool,
		Store:      st,
		Leases:     st,
		Locks:      st,
		Log:        log,
		// A dead run the next run of its app+env finds is reported as
		// a recovery would report it.
		Interrupted: sys.reportInterrupted,
		// The service is wired below, before any rollback can run.
		LockReplaced: sys.auditLockReplaced,
	}
	if cfg.Store.Redis != nil {
		// A cancel or a confirmation reaches the replica that runs
		// the deploy, whichever replica the chat platform sent it to.
		eopt.Signals = st
	}
	engine = deploy.NewEngine(eopt)
	sys.engine = engine
	sys.service = commands.NewService(commands.Deps{Config: cfg, Engine: engine, Store: st, Policy: policy, Presence: presence(cfg, policy.Admins(), log), Refusals: dm, Log: log})
	if err := sys.service.ForgetRemovedUsers(ctx); err != nil {
		// Left in place, a removed user's grants would pass to a later
		// user given the same name.
		sys.close()
		return nil, err
	}
	sys.trimmer = &retention.Trimmer{Store: st, Records: cfg.Store.Retention.Records.D(), Audit: cfg.Store.Retention.Audit.D(),
		Keep: config.KeepRecords, Log: log}
	// Built even with no train in the config: the cars still aboard a
	// removed one are listed and taken off through it.
	opt := train.Options{Config: cfg, Store: st, Runner: sys.service, Notifier: sys.notify, Gate: sys.service, Audit: st,
		Builds: train.ConfigBuilds{Config: cfg}, Log: log, Leases: st, LeaseTTL: cfg.Bot.LeaseTTL.D(), Once: st,
		// A car's deploy is waited for as long as its train's
		// deploy_timeout (the config's); a stopping bot waits for
		// it as long as it lets running deploys finish, and no
		// longer.
		StopWait: drainTimeout}
	if cfg.Store.Redis != nil {
		// Only serve runs the election: a console on Redis never
		// leads, so trains do not depart on schedule from it (it
		// says so at start).
		opt.Leader = sys.leader.IsLeader
	}
	sched, err := train.New(opt)
	if err != nil {
		sys.close()
		return nil, fmt.Errorf("%s: trains: %w", cfg.File, err)
	}
	sys.trains = sched
	sys.service.SetTrains(sched)
	return sys, nil
}

// rollbackFunc adapts a function to postdeploy.Rollbacker.
type rollbackFunc func(ctx context.Context, req deploy.Request, sink deploy.Sink) (*deploy.Record, error)

func (f rollbackFunc) Rollback(ctx context.Context, req deploy.Request, sink deploy.Sink) (*deploy.Record, error) {
	return f(ctx, req, sink)
}

// gateFunc adapts a function to postdeploy.Gate.
type gateFunc func(ctx context.Context, app, env string) []string

func (f gateFunc) RollbackPasses(ctx context.Context, app, env string) []string {
	return f(ctx, app, env)
}

// consoleUser is who the console acts as: bot.console_user (the config
// refuses the bot's own name there), else the OS user, unless that is the
// bot's name, as a service account's often is: the console would then act
// as the bot, own the lock it takes after a rollback and deploy through it.
// Nor may the OS user be a name the config refuses for a user
// (ana@corp.example, as directory services name accounts).
func consoleUser(configured string, osUser func() string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	u := osUser()
	if config.IsBotUser(u) {
		return "", fmt.Errorf("console: bot.console_user is not set and the OS user %q is the bot's own name; set bot.console_user to the user the console acts as", u)
	}
	// The config refuses such a name as console_user: grant could never
	// name it, nor users: hold it, so the console could do nothing.
	if p := config.UserNameProblem(u); p != "" {
		return "", fmt.Errorf("console: bot.console_user is not set and the OS user cannot act as it: %s; set bot.console_user to the user the console acts as", p)
	}
	return u, nil
}

func runConsole(ctx context.Context, cfg *config.Config, sys *system, u string, std stdio) error {
	interactive := false
	if f, ok := std.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		interactive = true
		fmt.Fprintf(std.Out, "Switchman %s — console as %s. Type help, or Ctrl-D to quit.\n", version, u)
	}
	c := &console.Console{In: std.In, Out: std.Out, User: u, Handler: sys.service, Interactive: interactive,
		Wait: func() { drainOnStop(ctx, sys.engine.Drain, drainTimeout, sys.log) }}
	sys.notify.set(consoleNotifier{out: c.Reply})
	if err := sys.recover(ctx); err != nil {
		return err
	}
	sys.resumeWatches(ctx, 0)
	if cfg.Store.Redis != nil {
		// A run whose lease was still held at start-up (this console's
		// last process, stopped at once mid-deploy) is looked for again
		// until that lease has run out, lease_ttl after the start at the
		// latest, as nothing renews it: looked for only at start, it
		// stayed running in status. Only until then: the console is no
		// replica, and reports to its own output, not to the env's
		// channel, so the runs of replicas that die later are theirs.
		if stop := sys.recoverLeftHeld(ctx, cfg.Bot.LeaseTTL.D(), recoveryInterval(cfg)); stop != nil {
			defer stop()
		}
	}
	if len(cfg.Trains) > 0 && cfg.Store.Redis != nil {
		// The console is no replica: one that led the schedules would
		// depart trains as its operator opened it, announced on its own
		// output rather than in the trains' channels, and stop them
		// when its input ends. The replicas sharing the store depart
		// them; a train sent off here with "train depart" leaves.
		sys.log.Info(consoleTrainsNote)
		if interactive {
			fmt.Fprintln(std.Out, consoleTrainsNote)
		}
	}
	if sys.trains != nil {
		tctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := sys.trains.Run(tctx); err != nil {
				sys.log.Error("train scheduler", "err", err)
			}
		}()
		defer func() { stop(); <-done }()
	}
	if sys.trimmer.Enabled() {
		tctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = sys.trimmer.Run(tctx) // logs its own failures
		}()
		defer func() { stop(); <-done }()
	}
	if !c.Run(ctx) {
		return exitCode(1)
	}
	return nil
}

// consoleTrainsNote is said at the start of a console on a Redis store
// with trains.
const consoleTrainsNote = "trains do not depart on schedule from a console on a Redis store: the serve replicas sharing the store depart them (train depart NAME now works here too)"

func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "console"
}

// drainOnStop waits for drain (the running deploys) to return. Once ctx
// ends (the bot is told to stop) it waits at most timeout more, as serve
// does and as the first signal says: a hung restart would otherwise hold
// the bot for step_timeout, and then for the switch back; a deploy still
// running then is reported interrupted at the next start. Until then it
// waits however long: the end of the console's input asks for no stop,
// and a deploy cut short would be left half-done.
func drainOnStop(ctx context.Context, drain func(), timeout time.Duration, log *slog.Logger) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		drain()
	}()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Error("deploys still running at shutdown; they will show as interrupted at the next start", "waited", timeout)
	}
}

// newLogger is the bot's log, to w at cfg's level, with the config's
// secret values and URLs' credentials hidden from every line, whatever
// code wrote it.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(cfg.Bot.LogLevel))); err != nil {
		l = slog.LevelInfo
	}
	w = redact.NewSecrets(cfg.SecretValues()...).Writer(w)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// policyFrom builds the access policy from the config.
func policyFrom(cfg *config.Config) (*acl.Policy, error) {
	return acl.New(cfg.AccessRules())
}

// exportAudit writes the audit log, oldest first, as JSON lines, one per
// command (see audit.Fold).
func exportAudit(ctx context.Context, cfgPath string, cfgChosen bool, since, app string, std stdio) error {
	q := audit.Query{App: app}
	if since != "" {
		// Before the config is read: a -since not understood is a
		// command line not understood (2), wherever it is run.
		t, err := parseSince(since, time.Now())
		if err != nil {
			fmt.Fprintf(std.Err, "bot audit: %v\n", err)
			return exitCode(2)
		}
		q.Since = t
	}
	cfg, err := loadConfig(cfgPath, cfgChosen)
	if err != nil {
		fmt.Fprintln(std.Err, err)
		return exitCode(1)
	}
	if _, ok := cfg.App(app); app != "" && !ok {
		// Its entries may predate its removal from the config: export
		// them, but say why the output may be empty.
		fmt.Fprintf(std.Err, "bot audit: app %q is not in the config (apps: %s); exporting its entries, if the log has any\n", app, strings.Join(cfg.AppNames(), ", "))
	}
	st, err := openHistory(ctx, cfg, newLogger(std.Err, cfg))
	if err != nil {
		return err
	}
	entries, err := st.Audit(ctx, q)
	// Closed before the entries are written: the embedded store's file
	// stays locked while it is open, and written into a pager or a slow
	// pipe they would keep the bot from starting until the reader is done.
	if cerr := st.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	// One line per command, as audit shows it: a pending entry closed by
	// its outcome is left out, one never closed reads as unknown.
	entries = audit.Fold(entries)
	for i := len(entries) - 1; i >= 0; i-- {
		line, err := audit.MarshalLine(entries[i])
		if err != nil {
			return fmt.Errorf("write audit log: %w", err)
		}
		if _, err := std.Out.Write(line); err != nil {
			return fmt.Errorf("write audit log: %w", err)
		}
	}
	return nil
}

// parseSince reads -since: a duration before now (24h, or days and weeks
// as the config writes them: 7d, 2w), a date (its midnight UTC), or an
// RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := config.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-since %q: want a duration (24h, 7d), a date (2026-11-01, from midnight UTC) or an RFC 3339 time", s)
}

// presence reads admins' Slack presence when the bot runs with Slack;
// otherwise only /here check-ins count. The admins of the config with no
// Slack id are never seen on Slack: where an env needs an admin around,
// that is logged once here, not said in every reply that finds none.
func presence(cfg *config.Config, admins []string, log *slog.Logger) commands.PresenceSource {
	if !cfg.Slack.Configured() {
		return nil
	}
	if unseen := noSlackID(cfg, admins); len(unseen) > 0 && requiresAdminPresent(cfg) {
		log.Info(unseenAdminsNote(unseen))
	}
	return slack.NewPresence(cfg, nil, log)
}

// unseenAdminsNote says that admins, who have no Slack id, count as around
// only when checked in.
func unseenAdminsNote(admins []string) string {
	return "require_admin_present: " + strings.Join(admins, ", ") + " (admins without a slack id) count as around only when checked in (here): their slack presence is never looked up"
}

// noSlackID returns those of users the config gives no Slack id.
func noSlackID(cfg *config.Config, users []string) []string {
	var out []string
	for _, u := range users {
		if cfg.Users[u].Slack == "" {
			out = append(out, u)
		}
	}
	return out
}

// requiresAdminPresent reports whether an env of cfg needs an admin
// around.
func requiresAdminPresent(cfg *config.Config) bool {
	for _, a := range cfg.Apps {
		if a == nil {
			continue
		}
		for _, e := range a.Envs {
			if e != nil && e.Window != nil && e.Window.RequireAdminPresent {
				return true
			}
		}
	}
	return false
}

// replicaID names this process among the bot's replicas.
func replicaID() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}

// inlineSecretsWarning introduces the secrets a config holds written out:
// said, not refused (a file only the bot's user may read is a choice).
const inlineSecretsWarning = "secrets written in the config file, not taken from the environment with ${VAR}: anyone who can read the file, a copy or its history has them"

// exposedKeysWarning introduces the SSH keys others than their owner may
// read: said, not refused, though OpenSSH refuses them.
const exposedKeysWarning = "SSH private keys others may read, which OpenSSH would refuse to use: whoever reads one can log in to its hosts"

// eitherDaysWarning introduces the train schedules naming days of the
// month and of the week: valid, and meant by some, but written by most for
// the days that are both.
const eitherDaysWarning = "train schedules naming days of the month and days of the week, which cron runs on every day that is either, not only on days that are both: trains in them board and leave on more days than may be meant"

// misleadingZonesWarning introduces the zones named Etc/GMT-N or Etc/GMT+N,
// and EST and MST: valid, and meant by some, but read otherwise by most.
const misleadingZonesWarning = "time zones that may not keep the hours their name suggests (Etc/GMT-1 is an hour ahead of UTC, not behind; EST is UTC-5 all year, without US daylight saving): windows and trains in them open, close and leave at other hours than the name suggests unless that is what is meant"
