// Package postdeploy is what happens after a deploy: Sentry learns about
// the release and the deploy, the error rate is watched, a spike is posted
// to the deploy's channel with a Rollback button, and, when the team chose
// so beforehand, rolled back by itself. Watches are saved as they go, so
// that a bot that stops mid-watch is followed by one that goes on with it.
package postdeploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// Notifier posts a message to a chat channel.
type Notifier interface {
	Post(ctx context.Context, channel string, m chat.Message) error
}

// Sentry is the part of the Sentry client used here.
type Sentry interface {
	sentry.Reader
	CreateRelease(ctx context.Context, org, version string, projects []string) error
	CreateDeploy(ctx context.Context, org, version, env string, started, finished time.Time, name string) error
}

// Rollbacker rolls an app back; *deploy.Engine implements it. Rollback
// must not wait for sink to take the final record: that sink waits for
// Rollback to return (the engine sends the final record from the run's
// own goroutine).
type Rollbacker interface {
	Rollback(ctx context.Context, req deploy.Request, sink deploy.Sink) (*deploy.Record, error)
}

// Auditor appends to the audit log.
type Auditor interface {
	AppendAudit(ctx context.Context, e *audit.Entry) error
}

// History reads the deploy records; the store implements it.
type History interface {
	Records(ctx context.Context, f deploy.Filter) ([]*deploy.Record, error)
	Record(ctx context.Context, id string) (*deploy.Record, error)
}

// Gate is the window and lock check every entry point passes (the
// command service's): it says what a rollback of app/env started now
// passes (a closed window, each lock in force), which a rollback never
// waits for but says, as a person's rollback does.
type Gate interface {
	RollbackPasses(ctx context.Context, app, env string) []string
}

// Requester is who automated rollbacks are recorded as.
const Requester = config.BotUser

// Options wire a Watcher. Config, Sentry, Notifier, Rollback and Audit are
// required.
type Options struct {
	Config   *config.Config
	Sentry   Sentry
	Notifier Notifier
	Rollback Rollbacker
	Audit    Auditor
	// History tells whether a later deploy or rollback of the app+env
	// started since the watched one, another replica's too: the watch
	// then ends, what it sees not being the watched build's to answer
	// for. Without it no spike rolls back by itself.
	History History
	// Gate, when set, is asked before an automatic rollback: a closed
	// window or another's lock does not stop it (restoring service
	// never waits), but the channel is told, as for a person's rollback.
	Gate Gate
	Log  *slog.Logger
	// Now and Sleep are the clock of the spike watch (tests drive them).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Channel says where an app/env's messages go: the env's configured
	// channel, or "" for none, when they go to the deploy record's.
	Channel func(app, env string) string
	// Reaches, when set, says whether Notifier can post to a deploy
	// record's channel: one the record names that it cannot (the
	// console's, for a bot serving Slack that goes on with a watch the
	// console left) is not posted to. With no channel left, a message is
	// logged at warn, in full, and the watch's audit entries are written
	// all the same. Unset, every channel is reached.
	Reaches func(channel string) bool
	// Watches keeps every watch and how far it got, so that a bot that
	// stops mid-watch is followed by one that goes on with it (Resume).
	// Without it watches live in this bot's memory only. It needs
	// History and Leases.
	Watches watchstore.Store
	// Leases make one bot, of replicas sharing the store, run a watch:
	// the one holding its lease (watchstore.LeaseKey), renewed every
	// LeaseTTL/3 (default 15 s) while it runs it. Replica names this bot
	// as the leases' holder.
	Leases   deploy.Leaser
	LeaseTTL time.Duration
	Replica  string
}

// Watcher observes the engine's events (Observe is a deploy.Sink) and runs
// the work after each deploy in the background; Resume takes over the
// saved watches no bot runs. It is safe for concurrent use.
type Watcher struct {
	opt    Options
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	// started holds, by deploy id, the work of each deploy that started
	// and has not finished yet: its entry goes when it finishes, so the
	// map holds only deploys in flight.
	started map[string]*work
	// watching holds, by app+env, the stop of each running watch by the
	// id of the run it watches: the start of a later run ends it.
	watching map[appEnv]map[string]context.CancelFunc
}

// defaultLeaseTTL is how long a watch's lease lives unrenewed by default.
const defaultLeaseTTL = 15 * time.Second

type appEnv struct{ app, env string }

// work is what the background jobs of one deploy share.
type work struct {
	// released is closed once the deploy's release is created (or
	// failed to be): the deploy is registered with Sentry after that,
	// or Sentry answers 404.
	released chan struct{}
	// failed is set once a Sentry failure of the deploy was said.
	failed atomic.Bool
}

// New returns a Watcher; Close stops its watches.
func New(opt Options) *Watcher {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.LeaseTTL <= 0 {
		opt.LeaseTTL = defaultLeaseTTL
	}
	if opt.Replica == "" {
		opt.Replica = Requester
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Watcher{opt: opt, ctx: ctx, cancel: cancel, started: map[string]*work{}, watching: map[appEnv]map[string]context.CancelFunc{}}
}

// Close stops every watch and waits for them; a saved watch is left to
// the next bot to resume, its lease given back. Registrations with Sentry
// in progress finish first, within registerTimeout (one cut short is
// left, saved, to the next bot); deploys that finish after Close are not
// registered. An automatic rollback running at Close is not waited for,
// but its outcome is still audited and posted when it ends (see spike).
func (w *Watcher) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
}

// registerTimeout bounds the registration of a deploy with Sentry that
// outlives Close.
const registerTimeout = time.Minute

// registering is the context of a Sentry registration: ctx's values, but
// not its cancel by Close, which would abort a request Sentry could
// answer and have the channel told that Sentry is unreachable; ended by
// registerTimeout once ctx is done.
func registering(ctx context.Context) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(registerTimeout, cancel)
		context.AfterFunc(rctx, func() { t.Stop() })
	})
	return rctx, func() {
		stop()
		cancel()
	}
}

// Wait waits for the running watches (tests).
func (w *Watcher) Wait() { w.wg.Wait() }

// envOf returns the Sentry settings of app/env, or nil.
func (w *Watcher) envOf(app, env string) *config.EnvSentry {
	a, ok := w.opt.Config.App(app)
	if !ok {
		return nil
	}
	e, ok := a.Env(env)
	if !ok {
		return nil
	}
	return e.Sentry
}

func (w *Watcher) version(r *deploy.Record) string {
	return sentry.Version(w.opt.Config.Sentry.Release, r.App, r.Env, r.Build)
}

// Observe is the engine observer: it starts the background work of a
// deploy's start and end and never blocks the engine.
func (w *Watcher) Observe(ev deploy.Event) {
	if ev.Record == nil || !w.opt.Config.Sentry.Configured() {
		return
	}
	es := w.envOf(ev.App, ev.Env)
	if es == nil {
		return
	}
	r := ev.Record.Clone()
	if ev.Kind == deploy.EventStarted {
		w.endWatches(r)
	}
	switch {
	case ev.Kind == deploy.EventStarted && r.Kind == deploy.KindDeploy:
		wk := &work{released: make(chan struct{})}
		w.mu.Lock()
		w.started[r.ID] = wk
		w.mu.Unlock()
		w.goDo(func(ctx context.Context) {
			defer close(wk.released)
			rctx, cancel := registering(ctx)
			defer cancel()
			if err := w.opt.Sentry.CreateRelease(rctx, w.opt.Config.Sentry.Org, w.version(r), []string{es.Project}); err != nil {
				w.sentryFailed(rctx, wk, r, "create the release", err)
			}
		})
	case ev.Kind == deploy.EventFinished:
		w.mu.Lock()
		wk := w.started[r.ID]
		delete(w.started, r.ID)
		w.mu.Unlock()
		switch r.Outcome {
		case deploy.OutcomeSucceeded, deploy.OutcomePartial:
			w.goDo(func(ctx context.Context) { w.afterDeploy(ctx, wk, r, es) })
		case deploy.OutcomeFailed, deploy.OutcomeReverted, deploy.OutcomeCancelled:
			if r.Kind == deploy.KindDeploy {
				w.goDo(func(ctx context.Context) { w.unwatched(ctx, r, es) })
			}
		}
	}
}

// unwatched tells the channel that the build r left running is no longer
// watched: r, a deploy that ended without changing what runs (failed,
// switched back, cancelled), ended the watch of the run before it when it
// started, on whichever replica that watch ran, and nothing watches that
// build again. Told only while that watch would still be running.
func (w *Watcher) unwatched(ctx context.Context, r *deploy.Record, es *config.EnvSentry) {
	if w.opt.History == nil {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	recs, err := w.opt.History.Records(hctx, deploy.Filter{App: r.App, Env: r.Env, Limit: 10})
	if err != nil {
		w.opt.Log.Warn("sentry watch: read the deploy history", "deploy", r.ID, "err", err)
		return
	}
	// The run just before r: its watch, if any, is the one r's start
	// ended (one before it was ended by that run's start).
	var prev *deploy.Record
	for _, p := range recs {
		if p.ID != r.ID && p.Started.Before(r.Started) {
			prev = p
			break
		}
	}
	if prev == nil || (prev.Outcome != deploy.OutcomeSucceeded && prev.Outcome != deploy.OutcomePartial) {
		return
	}
	// Until the watch's own end: its intervals are aligned to the epoch,
	// so it runs to the end of the interval that holds watch after
	// prev finished, and that interval's read, not watch after prev.
	_, _, until := policyOf(es).Schedule(prev.Finished)
	if !until.After(r.Started) || !until.After(w.opt.Now()) {
		return // its watch was over by then, or would be by now
	}
	how := map[deploy.Outcome]string{deploy.OutcomeFailed: "failed", deploy.OutcomeReverted: "was reverted", deploy.OutcomeCancelled: "was cancelled"}[r.Said()]
	runs := fmt.Sprintf("%s/%s runs %s as before", prev.App, prev.Env, prev.Build)
	if r.Said() != r.Outcome {
		// Recorded reverted, but no host went back (see Record.Said):
		// the hosts it switched run its build, not prev's.
		runs = fmt.Sprintf("%s/%s may no longer run %s everywhere: deploy %s switched hosts to %s and none went back (its report names them)",
			prev.App, prev.Env, prev.Build, r.ID, r.Build)
	} else if left := r.LeftOnBuild(); left != "" {
		// Cancelled, but hosts it switched to their first release stay
		// on its build: prev does not run there.
		runs = fmt.Sprintf("%s/%s may no longer run %s everywhere: deploy %s was cancelled and %s", prev.App, prev.Env, prev.Build, r.ID, left)
	}
	w.post(ctx, prev, chat.Message{Level: chat.Warning, Public: true,
		Title: fmt.Sprintf("Error watch of %s %s on %s ended: deploy %s started and %s", prev.App, prev.Build, prev.Env, r.Build, how),
		Lines: []string{fmt.Sprintf("%s, and nothing watches its errors any more (the watch was to run until %s), nor rolls it back by itself; check Sentry yourself",
			runs, w.clock(until))}})
}

// clock is t as the watch's messages give a time: its hour and minute
// in the zone of the watcher's clock, as every reply gives times in the
// bot's zone, named so that it cannot be read as another.
func (w *Watcher) clock(t time.Time) string {
	return t.In(w.opt.Now().Location()).Format("15:04 MST")
}

// goDo runs f in the background, unless the watcher is closed: it
// reports whether it does.
func (w *Watcher) goDo(f func(ctx context.Context)) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.opt.Log.Warn("postdeploy: the watcher is closed; work after a deploy dropped")
		return false
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		f(w.ctx)
	}()
	return true
}

// afterDeploy registers the deploy with Sentry, then watches for a spike.
// wk is the deploy's work since it started; nil for a rollback. A saved
// watch is saved before Sentry is asked, its registration still to do:
// Sentry may take registerTimeout to answer, and a bot that dies
// meanwhile leaves both to the next bot (Resume).
func (w *Watcher) afterDeploy(ctx context.Context, wk *work, r *deploy.Record, es *config.EnvSentry) {
	env := es.Environment
	if env == "" {
		env = r.Env
	}
	// The release of a deploy is created from its start (wk), that of a
	// rollback here: a bot that goes on with the watch creates it again,
	// not knowing whether this one did.
	reg := &registration{Release: wk != nil || r.Kind == deploy.KindRollback, Deploy: true}
	k := &kept{st: watchState{Project: es.Project, Environment: env, Version: w.version(r), Policy: policyOf(es), Register: reg,
		BaselineBefore: w.baselineBefore(ctx, r)}}
	var run bool
	if k.c, run = w.keep(ctx, r, k.st); !run {
		return
	}
	if !w.register(ctx, wk, r, k) {
		// Cut short as the bot stops: the saved watch, its registration
		// still to do, is the next bot's.
		k.c.release(ctx, w.opt.Log)
		return
	}
	if w.lostBeforeStart(ctx, r, k.c) {
		return
	}
	w.watch(ctx, r, k)
}

// lostBeforeStart reports whether the lease c of r's watch was lost
// before the watch started (while its run was registered with Sentry),
// its renewals then stopped. Taken by another bot, the watch is that
// bot's, quietly. Lost to a store reset, it went with the store's data
// and no bot goes on with it: the channel is told that it did not start,
// else people believe the deploy watched, and rolled back on a spike.
func (w *Watcher) lostBeforeStart(ctx context.Context, r *deploy.Record, c *claim) bool {
	if !c.isLost() {
		return false
	}
	c.stopRenewing()
	if !c.wasReset() {
		w.opt.Log.Info("sentry watch: taken over by another bot", "deploy", r.ID)
		return true
	}
	w.opt.Log.Error("sentry watch did not start: the state store was reset", "deploy", r.ID)
	w.post(ctx, r, chat.Message{Level: chat.Warning, Public: true,
		Title: fmt.Sprintf("Error watch of %s %s on %s did not start: the state store was reset", r.App, r.Build, r.Env),
		Lines: []string{fmt.Sprintf("deploy %s: its watch was saved there as the %s was registered with Sentry, so no bot goes on with it: nothing watches this deploy's errors, nor rolls it back by itself; check Sentry yourself", r.ID, r.Kind)}})
	return true
}

// register does what k.st.Register says is left of registering r with
// Sentry, then saves the watch registered. wk is the deploy's work since
// it started, whose creation of the release it waits for; nil when it
// creates the release itself. A failure is said (sentryFailed) and counts
// as done: the watch goes on. It reports false when the bot stopped
// before the release was created, registerTimeout after it was told to:
// nothing more is done then.
func (w *Watcher) register(ctx context.Context, wk *work, r *deploy.Record, k *kept) bool {
	reg := k.st.Register
	if reg == nil {
		return true
	}
	org := w.opt.Config.Sentry.Org
	rctx, cancel := registering(ctx)
	defer cancel()
	if wk != nil {
		select {
		case <-wk.released:
		case <-rctx.Done():
			return false
		}
	} else {
		wk = &work{}
		if reg.Release {
			// A rollback makes an older release live again: Sentry
			// learns of it as a new deploy of that release.
			if err := w.opt.Sentry.CreateRelease(rctx, org, k.st.Version, []string{k.st.Project}); err != nil {
				w.sentryFailed(rctx, wk, r, "create the release", err)
			}
		}
	}
	if reg.Deploy {
		if err := w.opt.Sentry.CreateDeploy(rctx, org, k.st.Version, k.st.Environment, r.Started, r.Finished, r.ID); err != nil {
			w.sentryFailed(rctx, wk, r, "register the deploy", err)
		}
	}
	// Saved as done, lest a bot that goes on with the watch register the
	// deploy twice.
	k.st.Register = nil
	w.save(ctx, r, k)
	return true
}

// baselineBefore returns, for a rollback r, the start of the deploy it
// rolled back: the hour before r holds the spike r answered (by a person
// or by itself), and a spike that goes on after r would hide in a
// baseline read there. The deploy is found in the history as the newest
// run before r that left the build r left running; one reached by a
// rollback itself is followed back to the deploy that rollback left, and
// so on. Zero (the
// hour before r) for a deploy, or when that deploy cannot be found (the
// history unreadable, or it does not go back that far).
func (w *Watcher) baselineBefore(ctx context.Context, r *deploy.Record) time.Time {
	if r.Kind != deploy.KindRollback || r.Previous == "" || w.opt.History == nil {
		return time.Time{}
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	recs, err := w.opt.History.Records(hctx, deploy.Filter{App: r.App, Env: r.Env, Limit: 50})
	if err != nil {
		w.opt.Log.Warn("sentry watch: read the deploy history for the rollback's baseline; the hour before the rollback is used", "deploy", r.ID, "err", err)
		return time.Time{}
	}
	build, before := r.Previous, r.Started
	for _, p := range recs { // newest first
		if p.ID == r.ID || !p.Started.Before(before) || p.Build != build ||
			(p.Outcome != deploy.OutcomeSucceeded && p.Outcome != deploy.OutcomePartial) {
			continue // a run of it that left it not running
		}
		if p.Kind != deploy.KindRollback {
			return p.Started
		}
		if p.Previous == "" {
			break
		}
		build, before = p.Previous, p.Started
	}
	w.opt.Log.Warn("sentry watch: the deploy the rollback left is not in the history; the hour before the rollback is used", "deploy", r.ID, "left", r.Previous)
	return time.Time{}
}

// policyOf is the spike policy of an env's settings.
func policyOf(es *config.EnvSentry) sentry.Policy {
	return sentry.Policy{Factor: es.Factor, MinEvents: es.MinEvents, Consecutive: es.Consecutive,
		Interval: es.Interval.D(), Watch: es.Watch.D(), AutoRollback: es.AutoRollback}
}

// watch watches r for a spike with k's settings, from k's progress,
// under k's lease (nil when the watch is not saved: keep). It returns
// when the watch has ended, or this bot stopped it (Close), or another
// bot took it over.
func (w *Watcher) watch(ctx context.Context, r *deploy.Record, k *kept) {
	// A watch ends once a later deploy or rollback of the app+env has
	// started: what it sees is no longer the watched build's doing. One
	// started here ends it at once (endWatches); one another replica
	// runs, at its next read of Sentry, which asks the deploy history
	// first.
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	defer w.track(r, stop)()
	c, st := k.c, k.st
	// Renewed until the watch ends; lost, the watch ends at once: another
	// bot runs it.
	defer c.stopRenewing()
	c.whenLost(wctx, stop)
	// spiked: the watch found its spike; handover: the spike's automatic
	// rollback was refused as the bot stops, and the watch is the next
	// bot's.
	var spiked, handover bool
	reader := untilLater{Reader: w.opt.Sentry, later: func(rctx context.Context) bool {
		if !c.held() {
			stop()
			return true
		}
		later, _ := w.later(rctx, r)
		if later != nil {
			w.opt.Log.Info("sentry watch ended: a later run started", "deploy", r.ID, "later", later.ID)
			stop()
		}
		return later != nil
	}}
	watch := &sentry.Watch{
		Reader: reader,
		Org:    w.opt.Config.Sentry.Org,
		Policy: st.Policy,
		Now:    w.opt.Now,
		Sleep:  w.opt.Sleep,
		Log:    w.opt.Log,
		OnSpike: func(s sentry.SpikeReport) {
			spiked = true
			// Only the bot holding the watch's lease acts on it: one
			// that lost it (paused past it, cut off from the store) has
			// been, or will be, replaced by one that reads the same
			// intervals.
			if !c.mine(ctx) {
				w.opt.Log.Info("sentry watch: the watch's lease is lost; the spike is left to the bot that holds it", "deploy", r.ID)
				stop()
				return
			}
			// ctx, not wctx: the watch's own rollback starting ends
			// the watch, and must not stop it waiting for that
			// rollback's outcome.
			switch w.spike(ctx, r, s, k) {
			case spikeLater, spikeLost:
				stop()
			case spikeStopping:
				handover = true
			}
		},
		OnInconclusive: func(reason string, ended bool) {
			if !c.held() {
				return
			}
			line := "inconclusive data never triggers a rollback; check Sentry yourself"
			switch {
			case ended:
				// No rate before the deploy to judge against: the watch
				// ends here (sentry.Watch), and people must know that
				// nothing watches any more.
				line = "the watch has ended: without the error rate before the deploy it cannot judge any interval, so nothing watches this deploy's errors now, and nothing rolls it back by itself; check Sentry yourself"
			case !k.st.Progress.Based:
				// Sentry failed to give it: the watch reads it again,
				// and judges nothing until then.
				_, _, last := k.st.Policy.Schedule(r.Finished)
				line = fmt.Sprintf("until Sentry gives the error rate before the deploy, nothing is judged and nothing rolls this deploy back by itself; the watch asks again at every interval until %s, and then judges at once the intervals that ended meanwhile; check Sentry yourself", w.clock(last))
			}
			w.post(ctx, r, chat.Message{Level: chat.Warning, Public: true,
				Title: fmt.Sprintf("Error watch of %s %s on %s is inconclusive: %s", r.App, r.Build, r.Env, reason),
				Lines: []string{line}})
		},
		OnUnjudged: func(from, to time.Time, based bool) {
			if !c.held() {
				return
			}
			// Said once, at the end: the inconclusive report, said once
			// too, may be long past, and without this the watch ended
			// with nothing said of the intervals it never judged.
			m := chat.Message{Level: chat.Warning, Public: true,
				Title: fmt.Sprintf("Error watch of %s %s on %s ended with the intervals from %s to %s not judged", r.App, r.Build, r.Env, w.clock(from), w.clock(to)),
				Lines: []string{"Sentry gave no usable error counts for them by the watch's end; nothing watches this deploy's errors any more, nor rolls it back by itself; check Sentry yourself"}}
			if !based {
				m.Title = fmt.Sprintf("Error watch of %s %s on %s ended without a baseline; nothing was judged", r.App, r.Build, r.Env)
				m.Lines = []string{fmt.Sprintf("Sentry never gave the error rate before the deploy, so none of the intervals from %s to %s was judged; nothing watches this deploy's errors any more, nor rolls it back by itself; check Sentry yourself", w.clock(from), w.clock(to))}
			}
			w.post(ctx, r, m)
		},
		OnProgress: func(p sentry.Progress) {
			k.st.Progress = p
			w.save(ctx, r, k)
		},
	}
	t := sentry.Target{App: r.App, Env: r.Env, Build: r.Build, Project: st.Project, Environment: st.Environment,
		Version: st.Version, Started: r.Started, Finished: r.Finished, BaselineBefore: st.BaselineBefore}
	if err := watch.RunFrom(wctx, t, st.Progress); err != nil && wctx.Err() == nil {
		w.opt.Log.Warn("sentry watch", "deploy", r.ID, "err", err)
	}
	switch {
	case c.wasReset():
		// The saved watch went with the store's data: no bot goes on
		// with it, and the channel must know nothing watches any more.
		w.opt.Log.Error("sentry watch stopped: the state store was reset", "deploy", r.ID)
		w.post(ctx, r, chat.Message{Level: chat.Warning, Public: true,
			Title: fmt.Sprintf("Error watch of %s %s on %s stopped: the state store was reset", r.App, r.Build, r.Env),
			Lines: []string{"the watch was saved there, so no bot goes on with it: nothing watches this deploy's errors any more, nor rolls it back by itself; check Sentry yourself"}})
		return
	case c.isLost():
		// Another bot took the watch over: what is left of it is its.
		w.opt.Log.Info("sentry watch: taken over by another bot", "deploy", r.ID)
		return
	case handover:
		// Its progress was saved before the spike's intervals, which the
		// next bot reads again: it finds the spike and rolls back. The
		// spike is told once, with who rolls back: never "rolling back
		// now", which this bot did not.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		m := *k.stopping
		if c == nil {
			m.Lines = append(m.Lines, "the watch is not saved: nothing rolls this deploy back by itself now; roll it back yourself")
			w.post(pctx, r, m)
			return
		}
		c.release(pctx, w.opt.Log)
		m.Lines = append(m.Lines, "the watch is saved from before this spike: the next bot to start (another replica, or this one restarted) reads these intervals again and rolls back by itself")
		w.post(pctx, r, m)
	case ctx.Err() != nil && !spiked:
		// The bot is stopping. Unless a later run has started (on
		// another replica, say), which had ended the watch already, a
		// saved watch is left for the next bot to resume; else the
		// channel is told that nothing watches the deploy any more,
		// auto_rollback included.
		if later, _ := w.later(ctx, r); later != nil {
			w.forget(ctx, r, c)
			return
		}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if c != nil {
			c.stopRenewing()
			c.release(pctx, w.opt.Log)
			w.post(pctx, r, chat.Message{Level: chat.Info, Public: true,
				Title: fmt.Sprintf("Error watch of %s %s on %s paused: the bot is shutting down", r.App, r.Build, r.Env),
				Lines: []string{w.resumeNote(r, k.st)}})
			return
		}
		w.post(pctx, r, chat.Message{Level: chat.Warning, Public: true,
			Title: fmt.Sprintf("Error watch of %s %s on %s stopped: the bot is shutting down", r.App, r.Build, r.Env),
			Lines: []string{"nothing watches this deploy's errors now, and nothing rolls it back by itself; check Sentry yourself"}})
	default:
		// Ended: quiet, a spike, nothing to judge against, or a later
		// run started.
		w.forget(ctx, r, c)
	}
}

// resumeNote says who goes on with a saved watch of r that this bot
// leaves, until when.
func (w *Watcher) resumeNote(r *deploy.Record, st watchState) string {
	_, _, last := st.Policy.Schedule(r.Finished)
	note := fmt.Sprintf("the watch is saved: the next bot to run (another replica, or this one restarted) goes on with it where it was, until %s", w.clock(last))
	if st.Policy.AutoRollback {
		note += ", and rolls back by itself on a spike"
	}
	return note
}

// track registers the watch of r, ended by stop, for endWatches, and
// returns its unregistering.
func (w *Watcher) track(r *deploy.Record, stop context.CancelFunc) func() {
	k := appEnv{r.App, r.Env}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watching[k] == nil {
		w.watching[k] = map[string]context.CancelFunc{}
	}
	w.watching[k][r.ID] = stop
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.watching[k], r.ID)
		if len(w.watching[k]) == 0 {
			delete(w.watching, k)
		}
	}
}

// endWatches ends the watches of r's app+env but r's own, r having
// started: r is the later run.
func (w *Watcher) endWatches(r *deploy.Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, stop := range w.watching[appEnv{r.App, r.Env}] {
		if id != r.ID {
			w.opt.Log.Info("sentry watch ended: a later run started", "deploy", id, "later", r.ID)
			stop()
		}
	}
}

// untilLater is a watch's Sentry reader: before each count of errors it
// asks later whether a later run of the app+env has started, and then
// reads nothing. later ends the watch (cancels the read's context).
type untilLater struct {
	sentry.Reader
	later func(ctx context.Context) bool
}

func (u untilLater) ErrorCounts(ctx context.Context, org, project, env string, start, end time.Time, iv time.Duration) ([]sentry.Bucket, error) {
	if u.later(ctx) {
		return nil, context.Canceled
	}
	return u.Reader.ErrorCounts(ctx, org, project, env, start, end, iv)
}

// spikeEnd is what became of a spike a watch found.
type spikeEnd int

const (
	// spikeDone: posted, and rolled back or not as the policy and the
	// engine allowed.
	spikeDone spikeEnd = iota
	// spikeLater: a later deploy or rollback of the app+env has started;
	// nothing was done (see spike).
	spikeLater
	// spikeStopping: the automatic rollback was refused because the bot
	// is stopping (its engine drains); the spike is the next bot's.
	spikeStopping
	// spikeLost: the watch's lease was lost as the spike was to be
	// recorded as reported; nothing was done, the bot holding it does.
	spikeLost
)

// spike posts a spike and, by policy, rolls back. It does nothing when a
// later deploy or rollback of the app+env has started (spikeLater): the
// errors may be the later one's, and only the watched build's would be
// for this watch to answer, so the watch ends.
//
// The spike is posted and audited once per watch: k's saved state records
// it as reported before it is (fenced by the watch's lease, as every save
// of it is). A bot that goes on with the watch after this one stopped
// (the rollback refused as it stopped, or the bot killed after posting)
// finds the spike again in the same intervals, but only rolls back, by
// policy, saying so in one line: posted again, it told of two spikes, and
// the audit log showed two. A save that fails is said (save) and the
// spike posted all the same: a next bot may post it again.
func (w *Watcher) spike(ctx context.Context, r *deploy.Record, s sentry.SpikeReport, k *kept) spikeEnd {
	later, known := w.later(ctx, r)
	if later != nil {
		w.opt.Log.Info("sentry watch ended: a later deploy started", "deploy", r.ID, "later", later.ID)
		return spikeLater
	}
	if k.st.SpikeReported {
		return w.spikeAgain(ctx, r, s, k, known)
	}
	k.st.SpikeReported = true
	w.save(ctx, r, k)
	if k.c.isLost() {
		w.opt.Log.Info("sentry watch: the watch's lease is lost; the spike is left to the bot that holds it", "deploy", r.ID)
		return spikeLost
	}
	m := SpikeMessage(r, s)
	w.auditEvent(ctx, r, "spike", fmt.Sprintf("%.1f errors/min vs %.1f before the %s", s.Rate, s.Baseline, runKind(r)))
	if !s.AutoRollback || r.Kind == deploy.KindRollback {
		w.post(ctx, r, m)
		return spikeDone
	}
	if !known {
		// Not knowing whether the spike is the watched build's, the bot
		// does not act on it; people do.
		m.Lines = append(m.Lines, "auto_rollback is on, but whether a later deploy started could not be read: not rolling back by itself")
		w.post(ctx, r, m)
		return spikeDone
	}
	b, why, then, ok := commands.RollbackOffer(r)
	if !ok {
		// The rollback would only be refused (see SpikeMessage): saying
		// "rolling back now" first told of one that never came.
		line := "auto_rollback is on for " + r.App + "/" + r.Env + ", but there is " + why + ": " + then
		if r.Outcome == deploy.OutcomePartial {
			// SpikeMessage says why already.
			line = "auto_rollback is on for " + r.App + "/" + r.Env + ", but for that reason nothing rolls back by itself"
		}
		m.Lines = append(m.Lines, line)
		w.post(ctx, r, m)
		return spikeDone
	}
	left := m
	left.Lines = append(append([]string(nil), m.Lines...), "auto_rollback is on for "+r.App+"/"+r.Env+", but the bot is stopping, so it does not roll back itself")
	// A rollback that does not start is told with the spike, in one
	// message, with the spike's Rollback button: "rolling back now"
	// followed by "did not start" told of one that never came.
	spiked := m
	notStarted := func(why, yourself string) chat.Message {
		n := spiked
		n.Lines = append(append([]string(nil), spiked.Lines...),
			"auto_rollback is on for "+r.App+"/"+r.Env+", but the automatic rollback did not start: "+why,
			yourself+": the "+b.Label+" button, or "+suggest.Command(b.Action))
		return n
	}
	m.Lines = append(m.Lines, "auto_rollback is on for "+r.App+"/"+r.Env+": rolling back now")
	return w.autoRollback(ctx, r, s, k, m, left, notStarted)
}

// spikeAgain is spike for a spike a bot before this one reported already
// (posted and audited): only the automatic rollback is left to do, by
// policy, announced in one line.
func (w *Watcher) spikeAgain(ctx context.Context, r *deploy.Record, s sentry.SpikeReport, k *kept, known bool) spikeEnd {
	w.opt.Log.Info("sentry watch: the spike was reported before; not posted again", "deploy", r.ID)
	if !s.AutoRollback || r.Kind == deploy.KindRollback {
		return spikeDone
	}
	b, _, _, ok := commands.RollbackOffer(r)
	if !ok {
		return spikeDone // said with the spike
	}
	title := fmt.Sprintf("Automatic rollback of %s/%s for the error spike posted before (%.1f errors/min vs %.1f before the %s)", r.App, r.Env, s.Rate, s.Baseline, runKind(r))
	if !known {
		w.post(ctx, r, chat.Message{Level: chat.Failure, Public: true, Title: title + " did not start",
			Lines: []string{"whether a later deploy started could not be read: not rolling back by itself; roll back yourself"}})
		return spikeDone
	}
	notStarted := func(why, yourself string) chat.Message {
		return chat.Message{Level: chat.Failure, Public: true, Title: title + " did not start: " + why,
			Lines: []string{yourself + ": the " + b.Label + " button, or " + suggest.Command(b.Action)}, Buttons: []chat.Button{b}}
	}
	return w.autoRollback(ctx, r, s, k, chat.Message{Level: chat.Failure, Public: true, Title: title + ": rolling back now"},
		chat.Message{Level: chat.Failure, Public: true, Title: title + ": not started, the bot is stopping"}, notStarted)
}

// autoRollback rolls r back for spike s, announced by m once it has
// started, to which it adds what the rollback passes. left is what the
// channel is told instead when the rollback is refused as the bot stops:
// kept in k for the watch's end (see watch), which says who rolls back.
// notStarted is what the channel is told instead of m when the rollback
// does not start for another reason: why, and what people can do
// (yourself, followed by the Rollback button and its command).
func (w *Watcher) autoRollback(ctx context.Context, r *deploy.Record, s sentry.SpikeReport, k *kept, m, left chat.Message, notStarted func(why, yourself string) chat.Message) spikeEnd {
	var passes []string
	if w.opt.Gate != nil {
		for _, why := range w.opt.Gate.RollbackPasses(ctx, r.App, r.Env) {
			passes = append(passes, "rolling back although "+why)
		}
		m.Lines = append(m.Lines, passes...)
	}
	m.Buttons = nil
	// From the watched build only: after a later deploy, the spike is
	// that deploy's watch's to judge. Recorded in the channel it is
	// posted to.
	// To the release the button names, as a click would: after a
	// partial deploy an unnamed rollback is refused.
	req := deploy.Request{App: r.App, Env: r.Env, From: r.Build, Requester: Requester, Platform: "sentry", Channel: w.channel(r)}
	if deploy.ValidBuild(r.RollbackTo) {
		req.Build = r.RollbackTo
	}
	reason := fmt.Sprintf("error spike after %s %s: %.1f errors/min vs %.1f (threshold %.1f); auto_rollback policy", r.App, r.Build, s.Rate, s.Baseline, s.Threshold)
	// The outcome is audited and posted by the rollback's sink, on the
	// run's goroutine, not by this watch: a stopping bot waits for its
	// runs (the engine's drain) before it closes the audit log and the
	// chat, but ends watches without waiting for their rollbacks
	// (Close), so only the run is sure to be waited for until its end is
	// told. auditEvent and post detach from ctx, each within its own
	// timeout. begun keeps the outcome after the rollback's start in the
	// audit log, however fast the rollback ends.
	//
	// The rollback's pending entry is durable before it starts, as a
	// person's command's is: a rollback the audit log cannot take is not
	// started, and its outcome's entry closes that one.
	intent := w.entry(r, audit.Pending, "rollback", rollbackCommand(r, ""), "")
	if err := audit.Begin(ctx, w.opt.Audit, intent); err != nil {
		w.opt.Log.Error("automatic rollback not started: the audit log cannot be written", "app", r.App, "env", r.Env, "deploy", r.ID, "err", err)
		// A person's rollback is refused as well until the audit log
		// can be written again.
		w.post(ctx, r, notStarted("the audit log cannot be written, so nothing was changed: "+errs.Message(err),
			"nothing rolls this deploy back by itself now; once the audit log can be written, roll it back yourself"))
		return spikeDone
	}
	// The announcement goes out once the rollback has started, not
	// before it: a chat that rate limits the bot (a 429's Retry-After)
	// held the rollback for up to post's 30 s while the errors went on,
	// and a rollback the stopping bot's engine refuses must not have
	// been announced as "rolling back now". What keeps a bot that goes
	// on with the watch from posting the spike again, or rolling back
	// twice, is durable already: the spike saved as reported (spike),
	// and the rollback's own record once it starts (later). What is said
	// after it waits for it, so that the channel reads in order.
	announced := make(chan struct{})
	begun, reported := make(chan struct{}), make(chan struct{})
	rec, err := w.opt.Rollback.Rollback(ctx, req, func(ev deploy.Event) {
		if ev.Kind != deploy.EventFinished || ev.Record == nil {
			return
		}
		<-begun
		<-announced
		if ev.TakenOver {
			w.rollbackTakenOver(ctx, r, ev.Record)
		} else {
			w.rollbackEnded(ctx, r, ev.Record, reason)
		}
		close(reported)
	})
	if err != nil {
		close(begun)
		// Refused, as a command the bot refuses is: a search of the log
		// for refusals finds it.
		w.auditRollback(ctx, r, "", intent.Intent, audit.Refused, "automatic rollback refused: "+suggest.Strip(errs.Message(err)))
		if errors.Is(err, deploy.ErrDraining) {
			// Spent here, the spike would roll nothing back: the saved
			// watch goes to the next bot instead of being ended (watch),
			// which tells the channel so, once.
			k.stopping = &left
			return spikeStopping
		}
		w.post(ctx, r, notStarted(errs.Message(err), "nothing rolls this deploy back by itself now; roll it back yourself"))
		return spikeDone
	}
	go func() {
		defer close(announced)
		w.post(ctx, r, m)
	}()
	// What it went past goes into the audit log as into the channel, as
	// a person's rollback's entry has it: the log outlives the post.
	w.auditRollback(ctx, r, rec.Build, intent.Intent, audit.Event, strings.Join(append([]string{"automatic rollback " + rec.ID + ": " + reason}, passes...), "; "))
	close(begun)
	// The watch counts (Wait) until the outcome is reported, unless the
	// bot stops first: the sink reports it all the same.
	select {
	case <-reported:
	case <-ctx.Done():
	}
	return spikeDone
}

// rollbackEnded audits and posts how the automatic rollback fin, started
// for r's spike, ended.
func (w *Watcher) rollbackEnded(ctx context.Context, r, fin *deploy.Record, reason string) {
	outcome := fmt.Sprintf("automatic rollback %s finished: %s", fin.ID, fin.Outcome)
	if fin.Error != "" {
		outcome += ": " + fin.Error
	}
	w.auditRollback(ctx, r, fin.Build, 0, audit.Event, outcome)
	w.post(ctx, r, rollbackMessage(fin, reason))
}

// rollbackTakenOver says that the automatic rollback fin lost its lease
// and that another replica (its recovery, or the run that took the
// app+env over) recorded how it ended, and reports it: audited here too,
// the log showed the rollback finished twice, the second time as this
// replica saw it.
func (w *Watcher) rollbackTakenOver(ctx context.Context, r, fin *deploy.Record) {
	w.post(ctx, r, chat.Message{Level: chat.Failure, Public: true,
		Title: fmt.Sprintf("Automatic rollback %s of %s/%s lost its lease: another replica recorded how it ended; %s shows the hosts", fin.ID, fin.App, fin.Env, suggest.Command("status "+fin.App))})
}

// later returns the newest deploy or rollback of r's app+env when it is
// not r, one that started since; known is false when the records could
// not be read.
func (w *Watcher) later(ctx context.Context, r *deploy.Record) (later *deploy.Record, known bool) {
	if w.opt.History == nil {
		return nil, false
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	recs, err := w.opt.History.Records(hctx, deploy.Filter{App: r.App, Env: r.Env, Limit: 1})
	if err != nil {
		w.opt.Log.Error("sentry watch: read the deploy history", "deploy", r.ID, "err", err)
		return nil, false
	}
	if len(recs) > 0 && recs[0].ID != r.ID && recs[0].Started.After(r.Started) {
		return recs[0], true
	}
	return nil, true
}

func rollbackMessage(fin *deploy.Record, reason string) chat.Message {
	level := chat.Success
	title := fmt.Sprintf("Rolled back %s/%s to %s by itself (%s)", fin.App, fin.Env, fin.Build, fin.Outcome)
	if fin.Outcome != deploy.OutcomeSucceeded {
		level = chat.Failure
	}
	// Only a rollback that got as far as its lock (taken before its
	// first switch) left one: one that ended before, or could not write
	// it, stops no deploy, and saying otherwise let the release it left
	// ship again unawares.
	lock := fmt.Sprintf("%s/%s is locked until someone unlocks it: %s", fin.App, fin.Env, suggest.Command("unlock deploys "+fin.App+" "+fin.Env))
	if !fin.Locked {
		// A lock needs a reason; the one offered is quoted, so that its
		// words are not read as an env or a duration.
		why := "rolled back by itself"
		if fin.Previous != "" {
			why = "rolled back from " + fin.Previous + " by itself"
		}
		lock = fmt.Sprintf("%s/%s is NOT locked: the rollback did not lock it, so deploys of it are not stopped (to stop them: %s)", fin.App, fin.Env, suggest.Command("lock deploys "+fin.App+" "+fin.Env+" \""+why+"\""))
	}
	return chat.Message{Level: level, Public: true, Title: title, Lines: []string{"why: " + reason, lock}}
}

// SpikeMessage describes a spike with its new issues and, after a deploy
// with an earlier release to go back to, a Rollback button.
//
// After a rollback it says so: the errors went on (or came) once the
// release it left no longer ran, so the cause may not be a release, and
// nothing rolls back further by itself. Titled as a deploy of the build
// it restored, it told of a deploy nobody made.
func SpikeMessage(r *deploy.Record, s sentry.SpikeReport) chat.Message {
	title := fmt.Sprintf("📈 Error spike after %s %s to %s: %.1f errors/min (before the deploy: %.1f/min)", r.App, r.Build, r.Env, s.Rate, s.Baseline)
	if r.Kind == deploy.KindRollback {
		title = fmt.Sprintf("📈 Error spike after the rollback of %s/%s to %s: %.1f errors/min (before the rollback: %.1f/min)", r.App, r.Env, r.Build, s.Rate, s.Baseline)
		if !s.BaselineBefore.IsZero() {
			// Its baseline is the hour before the deploy it rolled
			// back: the hour before the rollback held the spike.
			title = fmt.Sprintf("📈 Error spike after the rollback of %s/%s to %s: %.1f errors/min (before the deploy it rolled back: %.1f/min)", r.App, r.Env, r.Build, s.Rate, s.Baseline)
		}
	}
	m := chat.Message{Level: chat.Failure, Public: true, Title: title,
		Fields: []chat.Field{{Label: "app", Value: r.App}, {Label: "env", Value: r.Env}, {Label: "build", Value: r.Build},
			{Label: "threshold", Value: fmt.Sprintf("%.1f/min", s.Threshold)}, {Label: runKind(r), Value: r.ID}},
	}
	if r.Kind == deploy.KindRollback {
		from := ""
		if r.Previous != "" {
			from = " (from " + r.Previous + ")"
		}
		m.Lines = append(m.Lines, fmt.Sprintf("the errors did not stop with the rollback to %s%s: the cause may not be the release; nothing rolls back further by itself (to go further back, name the build: rollback %s %s to BUILD)", r.Build, from, r.App, r.Env))
	}
	switch {
	case s.IssuesErr != "":
		// Not "no new issues": nobody read them, and saying so pointed
		// away from the release as the cause.
		release := "this release"
		if s.Version != "" {
			release = s.Version
		}
		m.Lines = append(m.Lines, fmt.Sprintf("the issues first seen in %s could not be listed: %s; look for them in Sentry", release, s.IssuesErr))
	case len(s.Issues) == 0:
		m.Lines = append(m.Lines, "no new issues first seen in this release")
	}
	for _, is := range s.Issues {
		m.Lines = append(m.Lines, fmt.Sprintf("new: %s (%d events) %s", is.Title, is.Count, is.Permalink))
	}
	if r.Kind == deploy.KindDeploy {
		if b, why, then, ok := commands.RollbackOffer(r); ok {
			m.Buttons = []chat.Button{b}
		} else if r.Outcome == deploy.OutcomePartial {
			m.Lines = append(m.Lines, why+", so there is no Rollback button: "+then)
		}
	}
	return m
}

// runKind names r's kind of run: "rollback", or "deploy".
func runKind(r *deploy.Record) string {
	if r.Kind == deploy.KindRollback {
		return "rollback"
	}
	return "deploy"
}

// sentryFailed says once per deploy that Sentry could not be told; a
// deploy never waits for or fails because of Sentry.
func (w *Watcher) sentryFailed(ctx context.Context, wk *work, r *deploy.Record, what string, err error) {
	w.opt.Log.Warn("sentry", "app", r.App, "env", r.Env, "deploy", r.ID, "op", what, "err", err)
	if wk.failed.Swap(true) {
		return
	}
	w.post(ctx, r, chat.Message{Level: chat.Warning, Public: true,
		Title: fmt.Sprintf("Sentry could not %s for %s %s on %s: %s (the deploy is not affected)", what, r.App, r.Build, r.Env, errs.Message(err))})
}

// channel is where the messages of r's watch go: the env's configured
// channel, else the channel r was asked in when this bot can post there,
// else none ("").
func (w *Watcher) channel(r *deploy.Record) string {
	if w.opt.Channel != nil {
		if c := w.opt.Channel(r.App, r.Env); c != "" {
			return c
		}
	}
	if r.Channel != "" && w.opt.Reaches != nil && !w.opt.Reaches(r.Channel) {
		return ""
	}
	return r.Channel
}

func (w *Watcher) post(ctx context.Context, r *deploy.Record, m chat.Message) {
	ch := w.channel(r)
	if ch == "" {
		// Not dropped unsaid: the log is where it can still be read.
		w.opt.Log.Warn("sentry watch: no channel to post to: "+r.App+"/"+r.Env+" has no channel in the config and this bot cannot post where the "+runKind(r)+" was asked",
			"deploy", r.ID, "asked_in", r.Channel, "title", m.Title, "lines", strings.Join(m.Lines, " | "))
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := w.opt.Notifier.Post(pctx, ch, m); err != nil {
		w.opt.Log.Error("post to chat", "channel", ch, "deploy", r.ID, "err", err)
	}
}

// auditEvent writes an event of r's watch, tried as a command's entry is
// (audit.Append): a store briefly down loses no spike or automatic
// rollback from the audit log.
func (w *Watcher) auditEvent(ctx context.Context, r *deploy.Record, action, reason string) {
	w.audit(ctx, r, audit.Event, action, reason)
}

// auditRollback writes an entry of the automatic rollback started for r's
// spike. Its command names the release the rollback goes to, as the end
// of a person's rollback does ("rollback 1 web/prod"), or, before one is
// known (refused), the release it leaves ("rollback web/prod from 2"):
// named by r's build alone, as the watch's own entries are, it read as a
// rollback to the very build it left. intent is the Seq of the pending
// entry it is the outcome of, zero for none.
func (w *Watcher) auditRollback(ctx context.Context, r *deploy.Record, to string, intent uint64, decision audit.Decision, reason string) {
	e := w.entry(r, decision, "rollback", rollbackCommand(r, to), reason)
	e.Intent = intent
	w.write(ctx, r, e)
}

// rollbackCommand names the automatic rollback of r's spike: see
// auditRollback.
func rollbackCommand(r *deploy.Record, to string) string {
	if to != "" {
		return fmt.Sprintf("rollback %s %s/%s", to, r.App, r.Env)
	}
	return fmt.Sprintf("rollback %s/%s from %s", r.App, r.Env, r.Build)
}

// audit is auditEvent with a decision of its own.
func (w *Watcher) audit(ctx context.Context, r *deploy.Record, decision audit.Decision, action, reason string) {
	w.write(ctx, r, w.entry(r, decision, action, strings.TrimSpace(fmt.Sprintf("%s %s %s/%s", action, r.Build, r.App, r.Env)), reason))
}

// entry is an entry of r's watch, in the channel the watch posts to (the
// env's), where the spike and the rollback were told: the one the deploy
// was typed in saw neither.
func (w *Watcher) entry(r *deploy.Record, decision audit.Decision, action, command, reason string) *audit.Entry {
	return &audit.Entry{Time: w.opt.Now(), User: Requester, Platform: "sentry", Channel: w.channel(r),
		Command: command, Action: action, App: r.App, Env: r.Env, Decision: decision, Reason: reason, DeployID: r.ID}
}

func (w *Watcher) write(ctx context.Context, r *deploy.Record, e *audit.Entry) {
	if err := audit.Append(ctx, w.opt.Audit, e); err != nil {
		w.opt.Log.Error("append audit entry", "deploy", r.ID, "err", err)
	}
}
