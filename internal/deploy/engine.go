package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/redact"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// LockStore keeps the locks people (and rollbacks) put on deploys.
type LockStore interface {
	Locks(ctx context.Context) ([]Lock, error)
	// ReplaceLock stores next if the lock of its scope in force is still
	// prev (nil: none; an expired lock counts as none), in one step;
	// otherwise it stores nothing and returns the lock in force (nil:
	// none) and false.
	ReplaceLock(ctx context.Context, prev *Lock, next Lock) (*Lock, bool, error)
}

// Engine plans and runs deploys and rollbacks. It is safe for concurrent
// use: deploys of different app+envs run at once, a second deploy of the
// same app+env is refused while the first holds its lease.
type Engine struct {
	cfg        *config.Config
	transports map[string]Transport
	transport  func(app *config.App, env *config.Env) (Transport, error)
	pools      func(app *config.App, env *config.Env) (Pool, error)
	store      Store
	leases     Leaser
	locks      LockStore
	http       *http.Client
	now        func() time.Time
	log        *slog.Logger
	owner      string
	leaseTTL   time.Duration
	// finalBudget bounds the tries of a run's final record write.
	finalBudget time.Duration
	// slowStart is how long a run may take to start (lease, hosts,
	// first record) before it logs what it waits for, and again every
	// slowStart after.
	slowStart time.Duration
	observers []Sink
	// interrupted is Options.Interrupted; signals is Options.Signals;
	// lockReplaced is Options.LockReplaced.
	interrupted  func(*Record)
	lockReplaced func(ctx context.Context, run *Record, replaced Lock)
	signals      Signals
	// secrets are the config's secret values, hidden in what hosts print
	// wherever it is shown (see hidingSession).
	secrets *redact.Secrets

	mu      sync.Mutex
	running map[string]*run // by app/env
	// starting holds, by app/env, the runs that hold their lease and
	// are opening their hosts, not started yet: a cancel given then
	// stops one before it starts (see run.start).
	starting map[string]*run
	wg       sync.WaitGroup
	draining bool // set by Drain: no further run starts
	// drained is closed by Drain: a deploy waiting at its migrations
	// prompt stops waiting.
	drained chan struct{}
}

// Options wires an Engine. Config, Store, Leases and Locks are required;
// the rest have defaults.
type Options struct {
	Config *config.Config
	// Transports by name ("local"); an env names the one it uses.
	Transports map[string]Transport
	// Transport, when set, gives the transport of an env whose transport
	// is not in Transports (SSH, configured per env).
	Transport func(app *config.App, env *config.Env) (Transport, error)
	// Pools, when set, gives the load balancer pool of an env (nil for
	// none).
	Pools  func(app *config.App, env *config.Env) (Pool, error)
	Store  Store
	Leases Leaser
	Locks  LockStore
	// HTTP is used for HTTP health checks; default: a client with a 5 s timeout.
	HTTP *http.Client
	Now  func() time.Time
	Log  *slog.Logger
	// Signals, when set, carries cancels and confirmations between
	// replicas: a run polls it, and Signal* leave them for a run another
	// replica runs. Without it those reach only this process's runs.
	Signals Signals
	// Interrupted, when set, is told of each run the engine marks
	// interrupted outside Recover: a run whose process died, found by the
	// next run of its app+env before a recovery came. It is called in a
	// goroutine of its own.
	Interrupted func(*Record)
	// LockReplaced, when set, is told of a person's lock of an app+env
	// that the lock a rollback leaves there replaced, once it is
	// replaced: run is the rollback's record. The new lock's reason
	// quotes the old one, which goes when it is lifted; this is for the
	// audit log, which keeps it. It is called on the run's goroutine,
	// before the run ends (a stopping bot waits for it), and should
	// return within seconds.
	LockReplaced func(ctx context.Context, run *Record, replaced Lock)
	// Owner names this process in records; default hostname:pid.
	Owner string
	// LeaseTTL is how long an app+env lease lives unless renewed; default 30 s.
	LeaseTTL time.Duration
	// SlowStart is how long a deploy or rollback may take to start
	// (taking the app+env lease, opening its hosts, writing its first
	// record) before it logs, at WARN, what it is waiting for, and again
	// each SlowStart after; default 10 s.
	SlowStart time.Duration
	// FinalWriteBudget is how long a run keeps trying to write its final
	// record before it reports its outcome as unrecorded; default 2 min,
	// long enough for a store to fail over.
	FinalWriteBudget time.Duration
	// Observers see every event of every deploy this engine runs, before
	// the deploy's own sink (metrics, Sentry, the post-deploy watch), and
	// the end (EventFinished, interrupted) of every run whose process died
	// that this engine marks so: each end is observed once, by the engine
	// that recorded it. They are called from the engine's goroutines and
	// must not block.
	Observers []Sink
}

// NewEngine returns an engine wired by opt.
func NewEngine(opt Options) *Engine {
	e := &Engine{
		drained:      make(chan struct{}),
		cfg:          opt.Config,
		transports:   opt.Transports,
		transport:    opt.Transport,
		pools:        opt.Pools,
		store:        opt.Store,
		leases:       opt.Leases,
		locks:        opt.Locks,
		http:         opt.HTTP,
		now:          opt.Now,
		log:          opt.Log,
		owner:        opt.Owner,
		leaseTTL:     opt.LeaseTTL,
		finalBudget:  opt.FinalWriteBudget,
		slowStart:    opt.SlowStart,
		observers:    opt.Observers,
		interrupted:  opt.Interrupted,
		lockReplaced: opt.LockReplaced,
		signals:      opt.Signals,
		running:      map[string]*run{},
		starting:     map[string]*run{},
	}
	if opt.Config != nil {
		e.secrets = redact.NewSecrets(opt.Config.SecretValues()...)
	}
	if e.http == nil {
		// A health check judges the host's own answer: a redirect (the
		// app down behind a proxy that sends people elsewhere, http to
		// the public https balancer) fails the 2xx test rather than let
		// another server's answer pass it. Each check opens a connection
		// of its own: one kept from an earlier check leads to the process
		// that accepted it, which a graceful restart leaves answering the
		// connections it has while the new process takes the new ones.
		// It goes to the host directly, whatever HTTP_PROXY says: the
		// proxy the bot may need to reach Slack would answer for the
		// host, or fail for it, from elsewhere.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableKeepAlives = true
		tr.Proxy = nil
		e.http = &http.Client{Timeout: 5 * time.Second, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.owner == "" {
		h, _ := os.Hostname()
		e.owner = fmt.Sprintf("%s:%d", h, os.Getpid())
	}
	if e.finalBudget <= 0 {
		e.finalBudget = 2 * time.Minute
	}
	if e.slowStart <= 0 {
		e.slowStart = 10 * time.Second
	}
	if e.leaseTTL <= 0 {
		e.leaseTTL = 30 * time.Second
	}
	return e
}

// Request asks for a deploy or a rollback.
type Request struct {
	App   string
	Env   string
	Build string // deploy: the build; rollback: the target, "" for the previous good release
	// From, for a rollback, is the build app/env must run now (as the
	// first host reports it); a rollback from any other is refused.
	From string
	// Requester, Platform and Channel say who asked, for the record.
	Requester string
	Platform  string
	Channel   string
	// Forced is the override reason of a deploy allowed outside its window.
	Forced string
	// Admit, when set, is called once the app+env lease is held, before
	// any host is reached; an error refuses the run with nothing changed.
	// A gate that checks locks before the lease checks them again here: a
	// lock taken in between, on any replica, is then seen either by Admit
	// or, through the lease, by the lock's Underway. It returns whether
	// the run still goes past a closed window: false drops Forced, since
	// a deploy forced while its window was closed that finds it open
	// once it holds its app+env (it waited for it) is no override, and
	// its record and events must not say it is. The lease is renewed
	// while Admit runs, and ctx is cancelled once it is lost.
	Admit func(ctx context.Context) (forced bool, err error)
}

var buildRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidBuild reports whether s is an acceptable build id. The parser checks
// the same rule; the engine checks again because it builds paths from it.
func ValidBuild(s string) bool {
	return buildRE.MatchString(s) && s != "." && s != ".." && !containsDotDot(s)
}

func containsDotDot(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && s[i+1] == '.' {
			return true
		}
	}
	return false
}

// target is an app+env resolved against the config.
type target struct {
	app  *config.App
	env  *config.Env
	tr   Transport
	pool Pool // nil: no load balancer to drain
}

func (e *Engine) resolve(appName, envName string) (target, error) {
	app, ok := e.cfg.App(appName)
	if !ok {
		return target{}, errs.New(errs.Invalid, "unknown app %q", appName)
	}
	if envName == "" {
		envName = app.DefaultEnv
	}
	env, ok := app.Env(envName)
	if !ok {
		return target{}, errs.New(errs.Invalid, "unknown env %q for %s", envName, appName)
	}
	t := target{app: app, env: env}
	if tr, ok := e.transports[env.Transport]; ok {
		t.tr = tr
	} else if e.transport != nil {
		tr, err := e.transport(app, env)
		if err != nil {
			return target{}, errs.Wrap(errs.Unavailable, err, "transport %s of %s/%s: %v", env.Transport, appName, envName, err)
		}
		t.tr = tr
	}
	if t.tr == nil {
		return target{}, errs.New(errs.Unavailable, "transport %q of %s/%s is not available in this process", env.Transport, appName, envName)
	}
	t.tr = hidingTransport{t.tr, e.secrets}
	if e.pools != nil {
		pool, err := e.pools(app, env)
		if err != nil {
			return target{}, errs.Wrap(errs.Unavailable, err, "load balancer pool of %s/%s: %v", appName, envName, err)
		}
		t.pool = pool
	}
	return t, nil
}

func (t target) key() string { return t.app.Name + "/" + t.env.Name }

func (t target) hosts() []Host {
	hs := make([]Host, len(t.env.Hosts))
	for i, h := range t.env.Hosts {
		vars := map[string]string{}
		for k, v := range h.Vars {
			vars[k] = v
		}
		hs[i] = Host{Name: h.Name, Address: h.Address, Vars: vars}
	}
	return hs
}

// source is where the target's builds are. A read of the artifact server
// that waits half the env's step_timeout for data fails (a minute at
// most): well before the hosts' delivery would time out waiting for it,
// so that the error names the artifact, not the hosts.
func (t target) source() artifact.Source {
	idle := min(artifact.DefaultIdleTimeout, t.env.StepTimeout.D()/2)
	return artifact.Source{URL: t.app.Artifact.URL, Path: t.app.Artifact.Path, IdleTimeout: idle, ChecksumOptional: t.app.Artifact.ChecksumOptional()}
}

// Running returns snapshots of the deploys this process runs now.
func (e *Engine) Running() []*Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Record, 0, len(e.running))
	for _, r := range e.running {
		out = append(out, r.snapshot())
	}
	return out
}

// Cancelled is a deploy a cancel was passed to.
type Cancelled struct {
	ID string
	// Started is false for a deploy that held its app+env but had not
	// started (it was opening its hosts): it stops before it changes
	// anything, and has no host to switch back.
	Started bool
}

// Cancel asks the deploy of app/env to stop at its next safe point. It
// returns the deploy, or an error if none runs here, what runs is a
// rollback, which is not cancelled, or a deploy whose hosts are switched
// for good (it only removes old releases).
func (e *Engine) Cancel(app, env, by string) (Cancelled, error) {
	t, err := e.resolve(app, env)
	if err != nil {
		return Cancelled{}, err
	}
	e.mu.Lock()
	r, started := e.running[t.key()]
	ok := started
	if !ok {
		// One that holds the app+env and opens its hosts has not
		// started: cancelled now, it stops before it changes anything.
		r, ok = e.starting[t.key()]
	}
	e.mu.Unlock()
	if !ok {
		return Cancelled{}, errs.New(errs.NotFound, "no deploy of %s is running", t.key())
	}
	if r.rec.Kind == KindRollback {
		// A rollback restores service, host after host, and switches none
		// back: stopped half-way it would leave the hosts on different
		// releases and the app+env unlocked.
		return Cancelled{}, errs.New(errs.Conflict, "%s is being rolled back (rollback %s), and a rollback is not cancelled: it restores service, and stopped half-way it would leave the hosts on different releases; once it ends, roll back to another release or deploy again", t.key(), r.rec.ID)
	}
	if err := r.cancelBy(by); err != nil {
		return Cancelled{}, err
	}
	return Cancelled{ID: r.rec.ID, Started: started}, nil
}

// The kinds of signals, and how long one waits for its run to take it.
const (
	signalCancel  = "cancel"
	signalConfirm = "confirm"
	signalTTL     = time.Minute
)

// signalPoll is how often a run asks for the signals left for it.
const signalPoll = time.Second

// SignalCancel asks the replica running the deploy of app/env to cancel
// it, for a deploy this process does not run (see Cancel), and returns
// it; the run takes the signal within signalPoll. Without Signals, or
// with no run holding app/env, it is an error with code NotFound. A
// deploy whose record is not written yet has not started.
func (e *Engine) SignalCancel(ctx context.Context, app, env, by string) (Cancelled, error) {
	t, err := e.resolve(app, env)
	if err != nil {
		return Cancelled{}, err
	}
	none := errs.New(errs.NotFound, "no deploy of %s is running", t.key())
	if e.signals == nil {
		return Cancelled{}, none
	}
	h, err := e.leases.Holder(ctx, LeaseKey(t.app.Name, t.env.Name))
	if err != nil {
		return Cancelled{}, StoreRefused(err)
	}
	id, what, _ := strings.Cut(h, " ")
	switch {
	case h == "" || strings.HasPrefix(id, "recovery:"):
		return Cancelled{}, none
	case strings.HasPrefix(what, string(KindRollback)):
		return Cancelled{}, errs.New(errs.Conflict, "%s is being rolled back (rollback %s), and a rollback is not cancelled: it restores service, and stopped half-way it would leave the hosts on different releases; once it ends, roll back to another release or deploy again", t.key(), id)
	}
	// Read before the signal: a record written after it is of a run
	// that takes the signal at its first safe point, as a started one.
	rec, rerr := e.store.Record(ctx, id)
	switch {
	case rerr != nil && !errors.Is(rerr, ErrNotFound):
		return Cancelled{}, StoreRefused(rerr)
	case rerr == nil && rec.Kind == KindDeploy && rec.Outcome == OutcomeRunning && rec.Phase == PhasePruning:
		// Passed on, it would be refused there, and its giver told
		// only that it was passed on.
		return Cancelled{}, notCancelled(t, rec)
	}
	if err := e.signals.Signal(ctx, id, signalCancel, by, signalTTL); err != nil {
		// Sent again, a cancel only leaves the same signal: the way to
		// find out is also the way to make sure.
		return Cancelled{}, OutcomeUnknown(err, fmt.Sprintf("whether the cancel of deploy %s of %s was passed on to the replica running it", id, t.key()),
			fmt.Sprintf("%s again, which does no harm; %s shows whether it still runs, and its progress messages say when it stops",
				suggest.Command("cancel "+t.app.Name+" "+t.env.Name), suggest.Command("status "+t.app.Name)))
	}
	return Cancelled{ID: id, Started: rerr == nil}, nil
}

// SignalConfirm answers the migrations prompt of deploy id, which another
// replica runs (see Confirm): ok runs them, !ok aborts the deploy. It
// fails when the record shows no running deploy with pending migrations,
// and when an earlier answer still waits for the run to take it: the
// first answer counts.
func (e *Engine) SignalConfirm(ctx context.Context, id, by string, ok bool) error {
	if e.signals == nil {
		return errs.New(errs.NotFound, "no running deploy %s", id)
	}
	rec, err := e.store.Record(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return errs.New(errs.NotFound, "no running deploy %s", id)
	case err != nil:
		return StoreRefused(err)
	case rec.Outcome != OutcomeRunning:
		return errs.New(errs.Conflict, "deploy %s is not running (it ended %s)", id, rec.Outcome)
	case rec.Awaiting.IsZero():
		return errs.New(errs.Conflict, "deploy %s is not waiting for a confirmation", id)
	case !e.now().Before(rec.Awaiting):
		// Read back, the deadline is in the zone of the replica that
		// wrote it: shown in this one's, as its other replies are.
		return errTooLate(id, rec.Awaiting.In(e.now().Location()))
	}
	c := confirmation{ok: ok, by: by}
	pending, left, err := e.signals.SignalFirst(ctx, id, signalConfirm, c.signal(), signalTTL)
	switch {
	case err != nil:
		return OutcomeUnknown(err, fmt.Sprintf("whether your answer to the prompt of deploy %s was passed on to the replica running it", id),
			"answer again: if it was, you are told an answer is waiting; the deploy's progress messages say what it did")
	case !left:
		return errAnswerWaiting(id, pending)
	}
	return nil
}

// watchSignals takes the signals other replicas leave for r until done is
// closed: a cancel, and while r waits for one, an answer to its prompt.
// A store that cannot be read now is asked again next time.
func (r *run) watchSignals(done <-chan struct{}) {
	tick := time.NewTicker(signalPoll)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), signalPoll)
		if r.rec.Kind == KindDeploy {
			by, ok, err := r.e.signals.TakeSignal(ctx, r.rec.ID, signalCancel)
			if err != nil {
				r.log.Debug("read signals", "err", err)
			}
			if ok {
				if err := r.cancelBy(by); err != nil {
					// Its giver was told the cancel was passed on.
					r.note("the cancel by %s came too late: %s", by, errs.Message(err))
				}
			}
		}
		r.mu.Lock()
		ch := r.confirm
		r.mu.Unlock()
		if ch != nil {
			if v, ok, err := r.e.signals.TakeSignal(ctx, r.rec.ID, signalConfirm); err == nil && ok {
				c := parseConfirmation(v)
				switch first, asked := r.answer(c); {
				case !asked:
					// Taken once the prompt's deadline had passed: the
					// deploy aborts as unanswered.
					r.log.Info("answer after the deadline dropped", "by", c.by)
				case first != c:
					// Left in the moment between the first's taking and
					// the record's saying r waits no more; its giver was
					// told it was passed on.
					r.log.Info("answer after the first dropped", "by", c.by)
				}
			}
		}
		cancel()
	}
}

// Wait blocks until every deploy started by this engine has finished.
func (e *Engine) Wait() { e.wg.Wait() }

// Drain refuses every deploy and rollback not yet started, then waits for
// the running ones to finish. A stopping bot drains its engine: a train
// departing or a button clicked while it waits cannot start a deploy that
// nobody waits for. A deploy waiting at its migrations prompt is aborted
// there, where nothing has changed yet.
func (e *Engine) Drain() {
	e.mu.Lock()
	if !e.draining {
		e.draining = true
		close(e.drained)
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// Draining reports whether Drain has been called: no further run starts.
func (e *Engine) Draining() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.draining
}

// ErrDraining is the cause of a run refused because the engine drains
// (the bot is stopping): expected at every stop, not a failure of the
// store or the hosts, so callers may log it as such.
var ErrDraining = errors.New("engine draining")

// refuseDraining returns the refusal of a kind of run while the engine
// drains, wrapping ErrDraining, or nil.
func (e *Engine) refuseDraining(kind Kind) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining {
		return errs.Wrap(errs.Unavailable, ErrDraining, "switchman is shutting down: the %s was not started; nothing was changed", kind)
	}
	return nil
}

var errCancelled = errors.New("cancelled")

func newID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// newRunToken returns a fresh run token (see Record.Run).
func newRunToken() string {
	var b [RunTokenLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

func nonce() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// LeaseKey is the lease a run of app/env holds, whose tokens fence the
// records of app/env (see Store).
func LeaseKey(app, env string) string { return "deploy:" + app + "/" + env }

// RecoverLeaseKey is the lease a recovery of run id holds, so that two
// replicas finding the run dead do not both report it. Its tokens fence
// no write: a store may forget them once the lease is long over.
func RecoverLeaseKey(id string) string { return "recover:" + id }

// Underway is a deploy or rollback that holds its app+env now, on this
// replica or another.
type Underway struct {
	App, Env string
	ID       string // the run's id
	What     string // such as "deploy of build 42 by ana"
}

// Underway returns the runs holding an app+env that a lock of app and env
// ("" for all) covers, by app and env. A lock stops deploys that start
// after it; the runs it finds are under way and go on.
func (e *Engine) Underway(ctx context.Context, app, env string) ([]Underway, error) {
	scope := Lock{App: app, Env: env}
	var out []Underway
	for _, a := range e.cfg.AppNames() {
		ac, _ := e.cfg.App(a)
		for _, en := range ac.EnvNames() {
			if !scope.Covers(a, en) {
				continue
			}
			h, err := e.leases.Holder(ctx, LeaseKey(a, en))
			if err != nil {
				return nil, fmt.Errorf("runs under way on %s/%s: %w", a, en, err)
			}
			if h != "" {
				id, what, _ := strings.Cut(h, " ")
				if dead, ok := strings.CutPrefix(id, "recovery:"); ok {
					// Recover holds it while it marks a dead run.
					id, what = dead, "the recovery of a run whose process stopped"
				}
				out = append(out, Underway{App: a, Env: en, ID: id, What: what})
			}
		}
	}
	return out, nil
}

// acquire takes the app+env lease for run id of kind, which does what
// (such as "deploy of build 42 by ana"), or explains who holds it. The
// holder is the id followed by what: a deploy refused before the holder's
// record is written (once its hosts were reached) still learns who does
// what.
func (e *Engine) acquire(ctx context.Context, t target, kind Kind, id, what string) (Lease, error) {
	l, err := e.leases.Acquire(ctx, LeaseKey(t.app.Name, t.env.Name), id+" "+what, e.leaseTTL)
	if err == nil {
		return l, nil
	}
	var held *LeaseHeldError
	if !errors.As(err, &held) {
		return nil, StoreRefused(err)
	}
	return nil, e.busy(ctx, t, kind, held.Holder)
}

// StoreUnreachable is what a store that cannot be reached is said to be
// (StoreReason of an error the store gave no reason for).
const StoreUnreachable = "state store unreachable"

// StoreRefused is the error of a command refused, nothing changed, because
// a store call failed with err (for a lease, not because another run holds
// it; or a read before the command changes anything). A store that says
// why (Redis refuses writes, a full disk, a store found reset) is quoted:
// calling it unreachable would send people looking for a network fault in
// a store that answers.
func StoreRefused(err error) error { return storeRefusedTo(err, "") }

// StoreReason is why a store call failed with err, in the store's own
// words when it has them (Redis refuses writes, a full disk, a store found
// reset), else that it cannot be reached: for a note in a reply that goes
// on, which StoreRefused's "nothing was changed" would not fit.
func StoreReason(err error) string {
	var e *errs.Error
	if !errors.As(err, &e) {
		return StoreUnreachable
	}
	return e.Msg
}

// storeRefusedTo is StoreRefused for a command that got as far as what
// (": the deploy could not be recorded") before the store failed.
func storeRefusedTo(err error, what string) error {
	var e *errs.Error
	if !errors.As(err, &e) || e.Msg == StoreUnreachable {
		return errs.Wrap(errs.Unavailable, err, "%s%s; nothing was changed", StoreUnreachable, what)
	}
	if errors.Is(err, ErrStoreReset) {
		return err // its message says already that nothing was run
	}
	return errs.Wrap(e.Code, err, "%s%s; nothing was changed", e.Msg, what)
}

// OutcomeUnknown is the error of a store write that failed with err but
// may have been applied all the same: Redis may have run it and its reply
// been lost (a dropped connection, a timeout) once the client's tries
// were spent, and a refusal on a later try says nothing of an earlier
// one. "Nothing was changed" could then be false, and whoever trusts it
// acts on it. whether says what is not known ("whether web/prod was
// locked"), check how to find out. A store found reset, one whose disk
// is full, and one unusable until someone acts on it (ErrStoreUnusable: a
// damaged file, one no longer mapped, whose failed write bbolt rolled
// back) refuse before anything is stored: they keep their "nothing was
// changed". So does a closed store (ErrStoreClosed), which sends nothing,
// and a write given up before the store began it (ErrStoreNotRun).
// So does an answer of the store's own (a conflict, a train full), err
// returned as it is. The error returned otherwise wraps ErrOutcomeUnknown.
func OutcomeUnknown(err error, whether, check string) error {
	if refusedBeforeStoring(err) {
		return StoreRefused(err)
	}
	if wroteNothing(err) {
		return err
	}
	why := StoreUnreachable
	var e *errs.Error
	if errors.As(err, &e) {
		why = e.Msg
	}
	return errs.Wrap(errs.Unavailable, unknownOutcome{err}, "%s is not known (%s): %s", whether, why, check)
}

// refusedBeforeStoring reports whether err is of a store that refused a
// write before storing any of it (see OutcomeUnknown).
func refusedBeforeStoring(err error) bool {
	return errors.Is(err, ErrStoreReset) || errors.Is(err, ErrStoreFull) || errors.Is(err, ErrStoreUnusable) || errors.Is(err, ErrStoreClosed) || errors.Is(err, ErrStoreNotRun)
}

// wroteNothing reports whether the store write that failed with err
// stored nothing: refused before storing, or answered by the store itself
// (a conflict, a train full). Any other failure may have been applied.
func wroteNothing(err error) bool {
	if refusedBeforeStoring(err) {
		return true
	}
	code := errs.CodeOf(err)
	return code != errs.Unavailable && code != errs.Internal
}

// ErrOutcomeUnknown is wrapped by the errors of OutcomeUnknown: the
// command's write may have been applied, so its audit entry says its
// outcome is not known rather than that it was refused.
var ErrOutcomeUnknown = errors.New("outcome unknown")

// unknownOutcome is err marked with ErrOutcomeUnknown, its message kept
// for the log.
type unknownOutcome struct{ err error }

func (e unknownOutcome) Error() string   { return e.err.Error() }
func (e unknownOutcome) Unwrap() []error { return []error{ErrOutcomeUnknown, e.err} }

// busy is the refusal of a run of kind of t while lease holder h (an id
// followed by what it does) holds t's lease; the dry run says it too, with
// kind "".
func (e *Engine) busy(ctx context.Context, t target, kind Kind, h string) error {
	holder, doing, _ := strings.Cut(h, " ")
	if dead, ok := strings.CutPrefix(holder, "recovery:"); ok {
		// Recover holds it while it marks a dead run: named as status
		// names it, not by the lease's holder, which means nothing to
		// people.
		return errs.New(errs.Conflict, "%s is busy: the recovery of a run whose process stopped (deploy %s), which marks it interrupted and changes no host; try again once it is reported", t.key(), dead)
	}
	if other, rerr := e.store.Record(ctx, holder); rerr == nil {
		stop := ""
		switch {
		case other.Kind == KindDeploy && other.Outcome == OutcomeRunning && e.settled(t, other):
			stop = waitForPrune(t, kind, e.freshest(t, other))
		case other.Kind == KindDeploy && other.Outcome == OutcomeRunning:
			stop = stopDeployFirst(t, kind)
		}
		return errs.New(errs.Conflict, "%s is busy: %s of build %s by %s since %s (deploy %s)%s",
			t.key(), other.Kind, other.Build, other.Requester, other.Started.In(e.now().Location()).Format("15:04:05 MST"), other.ID, stop)
	}
	if doing != "" {
		stop := ""
		if strings.HasPrefix(doing, string(KindDeploy)+" ") {
			stop = stopDeployFirst(t, kind)
		}
		return errs.New(errs.Conflict, "%s is busy: %s, starting now (deploy %s)%s", t.key(), doing, holder, stop)
	}
	return errs.New(errs.Conflict, "%s is busy (held by %s)", t.key(), h)
}

// settled reports whether deploy rec of t has switched its hosts for good
// (see run.settle), so that a cancel of it is refused: its record says so
// once the store holds it, whichever replica runs it; a run of this
// process knows it before that write.
func (e *Engine) settled(t target, rec *Record) bool {
	if rec.Phase == PhasePruning {
		return true
	}
	r := e.runOf(t, rec.ID)
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.settled
}

// freshest is rec, the record of a run of t read from the store, or the
// record of that run as this process runs it, which its last write may
// not have reached yet.
func (e *Engine) freshest(t target, rec *Record) *Record {
	r := e.runOf(t, rec.ID)
	if r == nil {
		return rec
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec.Clone()
}

// runOf is the run of t with id that this process runs, nil if it runs
// none (another replica may).
func (e *Engine) runOf(t target, id string) *run {
	e.mu.Lock()
	r, ok := e.running[t.key()]
	e.mu.Unlock()
	if !ok || r.rec.ID != id {
		return nil
	}
	return r
}

// waitForPrune ends the refusal of a run of kind behind deploy rec of t,
// which only removes old releases: stopDeployFirst's cancel would be
// refused, and the switch it offers to undo is done; what undoes it is a
// rollback once that deploy has ended (see pruneUndo).
func waitForPrune(t target, kind Kind, rec *Record) string {
	var done, next string
	switch kind {
	case KindRollback:
		done = "rolled back"
		if undo, why := pruneUndo(t, rec); undo != "" {
			next = "once it has ended, " + undo + " undoes it"
		} else {
			next = "no rollback undoes it: " + why
		}
	case KindDeploy:
		done, next = "deployed", "try again once it has ended"
	default:
		return "" // a dry run, which changes nothing anyway
	}
	return fmt.Sprintf("; nothing was %s: that deploy has switched %s to %s already and is only removing old releases, so it is not cancelled; %s", done, t.key(), rec.switchedTo(), next)
}

// stopDeployFirst ends the refusal of a run of kind behind a deploy of t
// that is under way. In an incident "busy" alone leaves it unsaid whether
// the rollback did anything, and how to get past the deploy: a cancel
// stops it, which a rollback or a recovery in its place would not take.
func stopDeployFirst(t target, kind Kind) string {
	var done string
	switch kind {
	case KindRollback:
		done = "rolled back"
	case KindDeploy:
		done = "deployed"
	default:
		return "" // a dry run, which changes nothing anyway
	}
	return fmt.Sprintf("; nothing was %s: %s stops that deploy and switches its hosts back; try again once it has ended", done, suggest.Command("cancel "+t.app.Name+" "+t.env.Name))
}
