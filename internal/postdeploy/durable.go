package postdeploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/jsonkeep"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/sentry"
)

// watchState is what the store keeps of a watch (watchstore.Watch.State):
// what it watches, with the policy it started with, and how far it got.
// The watched run itself is its deploy record.
type watchState struct {
	Project     string          `json:"project"`
	Environment string          `json:"environment"`
	Version     string          `json:"version"`
	Policy      sentry.Policy   `json:"policy"`
	Progress    sentry.Progress `json:"progress"`
	// Register is what is left of registering the run with Sentry; nil
	// once done. A watch is saved before Sentry is asked, which may take
	// registerTimeout, so that a bot dying meanwhile leaves the
	// registration to the one that goes on with the watch. Watches saved
	// by earlier versions have none: they were saved once registered.
	Register *registration `json:"register,omitempty"`
	// BaselineBefore, for a rollback's watch, is the start of the deploy
	// it rolled back, whose hour before is the watch's baseline (see
	// baselineBefore); zero: the hour before the run watched (watches
	// saved by earlier versions too).
	BaselineBefore time.Time `json:"baseline_before,omitzero"`
	// SpikeReported says the watch's spike was posted and audited (or
	// about to be: it is saved before): a bot that goes on with the watch
	// and finds it again does not report it again (see spike).
	SpikeReported bool `json:"spike_reported,omitempty"`

	// unknown holds what a newer version wrote in the saved watch, for
	// the bot that goes on with it to write back (as for the nested
	// policy, progress and registration, which keep theirs).
	unknown jsonkeep.Unknown
}

// watchStateJSON is watchState without its JSON methods.
type watchStateJSON watchState

// UnmarshalJSON decodes st, keeping the members it does not know.
func (st *watchState) UnmarshalJSON(data []byte) error {
	u, err := jsonkeep.Decode(data, (*watchStateJSON)(st))
	st.unknown = u
	return err
}

// MarshalJSON encodes st with the members a newer version wrote.
func (st watchState) MarshalJSON() ([]byte, error) {
	return jsonkeep.Encode(watchStateJSON(st), st.unknown)
}

// registration is what is left of registering a run with Sentry.
type registration struct {
	// Release: the release is to be created (again: Sentry takes a
	// release created twice as one).
	Release bool `json:"release,omitempty"`
	// Deploy: the deploy is to be registered.
	Deploy bool `json:"deploy,omitempty"`

	// unknown holds what a newer version wrote of the registration.
	unknown jsonkeep.Unknown
}

// registrationJSON is registration without its JSON methods.
type registrationJSON registration

// UnmarshalJSON decodes r, keeping the members it does not know.
func (r *registration) UnmarshalJSON(data []byte) error {
	u, err := jsonkeep.Decode(data, (*registrationJSON)(r))
	r.unknown = u
	return err
}

// MarshalJSON encodes r with the members a newer version wrote.
func (r registration) MarshalJSON() ([]byte, error) {
	return jsonkeep.Encode(registrationJSON(r), r.unknown)
}

// kept is a running watch's state and its lease (nil when the watch is
// not saved), as its saves see them. Only the watch's goroutine uses it.
type kept struct {
	c  *claim
	st watchState
	// failed is set once a failed save was said in the channel.
	failed bool
	// stopping is the spike's message, left to the watch's end, when
	// its automatic rollback was refused as the bot stops (autoRollback).
	stopping *chat.Message
}

// stateStoreTimeout bounds one call to the store of watches.
const stateStoreTimeout = 10 * time.Second

// claim is the lease of one watch this bot runs, renewed every third of
// its TTL from when it is taken until the watch ends. Its methods may be
// called on a nil claim, a watch that is not saved: it is this bot's
// alone. Safe for concurrent use.
type claim struct {
	lease deploy.Lease
	ttl   time.Duration
	// renewed is when the lease was last taken or renewed (Unix ns of
	// the real clock, as the store's expiry is): a store that cannot be
	// reached for a TTL lets it run out unnoticed.
	renewed atomic.Int64
	lost    atomic.Bool
	// reset is set, with lost, once the store was found reset: the lease
	// and the saved watch went with its data, so no bot goes on with the
	// watch, unlike one whose lease another took.
	reset atomic.Bool
	// gone is closed once the store said the lease is another's, or ran
	// out, or was found reset.
	gone chan struct{}
	once sync.Once
	stop chan struct{}
	done chan struct{}
}

// newClaim starts renewing lease l, whose acquisition started at taken,
// in the background.
func newClaim(l deploy.Lease, ttl time.Duration, taken time.Time, log *slog.Logger) *claim {
	c := &claim{lease: l, ttl: ttl, gone: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	c.renewed.Store(taken.UnixNano())
	go c.renew(log)
	return c
}

func (c *claim) renew(log *slog.Logger) {
	defer close(c.done)
	tick := time.NewTicker(c.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		start := time.Now() // the lease runs ttl from here at the earliest
		ctx, cancel := context.WithTimeout(context.Background(), c.ttl/3)
		err := c.lease.Renew(ctx)
		cancel()
		switch {
		case errors.Is(err, deploy.ErrStoreReset):
			// Lost as a lease another took is: a reset store refuses
			// every call until the bot restarts, so the watch could
			// neither save nor be sure it is still its own.
			log.Error("sentry watch: the state store was reset; the watch stops", "err", err)
			c.setReset()
			close(c.gone)
			return
		case errors.Is(err, deploy.ErrLeaseLost):
			log.Warn("sentry watch: its lease is lost; another bot goes on with it", "err", err)
			c.lost.Store(true)
			close(c.gone)
			return
		case err != nil:
			log.Warn("sentry watch: renew its lease", "err", err)
		default:
			c.renewed.Store(start.UnixNano())
		}
	}
}

// setReset marks the lease lost with the store's data.
func (c *claim) setReset() {
	c.reset.Store(true)
	c.lost.Store(true)
}

// wasReset reports whether the lease was lost with the store's data.
func (c *claim) wasReset() bool { return c != nil && c.reset.Load() }

// whenLost calls f once the lease is lost, unless ctx ends first.
func (c *claim) whenLost(ctx context.Context, f func()) {
	if c == nil {
		return
	}
	go func() {
		select {
		case <-c.gone:
			f()
		case <-ctx.Done():
		}
	}()
}

// stopRenewing stops the renewals, once renew has started them.
func (c *claim) stopRenewing() {
	if c == nil {
		return
	}
	c.once.Do(func() {
		close(c.stop)
		<-c.done
	})
}

// held reports whether the lease is this bot's as far as its renewals
// know: not lost, and renewed within its TTL.
func (c *claim) held() bool {
	if c == nil {
		return true
	}
	return !c.lost.Load() && time.Since(time.Unix(0, c.renewed.Load())) < c.ttl
}

// isLost reports whether the watch is, or may be, another bot's now.
func (c *claim) isLost() bool { return c != nil && !c.held() }

// mine checks with the store that the lease is still this bot's, before
// the watch acts on what it found. A store that cannot say leaves it to
// held.
func (c *claim) mine(ctx context.Context) bool {
	if c == nil {
		return true
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateStoreTimeout)
	defer cancel()
	switch err := c.lease.Check(cctx); {
	case errors.Is(err, deploy.ErrStoreReset):
		c.setReset()
	case errors.Is(err, deploy.ErrLeaseLost):
		c.lost.Store(true)
	}
	return c.held()
}

// release gives the lease back, its renewals stopped.
func (c *claim) release(ctx context.Context, log *slog.Logger) {
	if c == nil {
		return
	}
	c.stopRenewing()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateStoreTimeout)
	defer cancel()
	if err := c.lease.Release(rctx); err != nil {
		log.Warn("sentry watch: release its lease", "err", err)
	}
}

func (w *Watcher) holder(id string) string { return w.opt.Replica + " sentry watch of " + id }

// durable reports whether watches are saved.
func (w *Watcher) durable() bool {
	return w.opt.Watches != nil && w.opt.Leases != nil && w.opt.History != nil
}

// keep takes the lease of a new watch of r and saves it. It returns the
// claim, nil when the watch could not be saved (the channel is told: it
// runs in this bot's memory only), and whether to run the watch at all:
// not when another bot holds its lease already.
func (w *Watcher) keep(ctx context.Context, r *deploy.Record, st watchState) (*claim, bool) {
	if !w.durable() {
		return nil, true
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateStoreTimeout)
	defer cancel()
	taken := time.Now()
	l, err := w.opt.Leases.Acquire(actx, watchstore.LeaseKey(r.ID), w.holder(r.ID), w.opt.LeaseTTL)
	if errors.Is(err, deploy.ErrLeaseHeld) {
		w.opt.Log.Info("sentry watch: another bot runs it", "deploy", r.ID, "err", err)
		return nil, false
	}
	if err == nil {
		c := newClaim(l, w.opt.LeaseTTL, taken, w.opt.Log.With("deploy", r.ID))
		k := &kept{c: c, st: st}
		if err = w.put(actx, r, k); err == nil {
			return c, true
		}
		c.release(ctx, w.opt.Log)
	}
	w.opt.Log.Error("sentry watch: save it", "deploy", r.ID, "err", err)
	_, _, last := st.Policy.Schedule(r.Finished)
	w.post(ctx, r, chat.Message{Level: chat.Warning, Public: true,
		Title: fmt.Sprintf("Error watch of %s %s on %s is not saved: %s", r.App, r.Build, r.Env, errs.Message(err)),
		Lines: []string{fmt.Sprintf("it runs in this bot's memory only: should the bot stop before %s, nothing watches this deploy's errors any more, nor rolls it back by itself (the deploy is not affected)", w.clock(last))}})
	return nil, true
}

// put writes k's state under its lease's token.
func (w *Watcher) put(ctx context.Context, r *deploy.Record, k *kept) error {
	data, err := json.Marshal(k.st)
	if err != nil {
		return fmt.Errorf("encode watch: %w", err)
	}
	return w.opt.Watches.PutWatch(ctx, watchstore.Watch{ID: r.ID, App: r.App, Env: r.Env, Fence: k.c.lease.Token(), State: data})
}

// save writes how far the watch k of r got. A watch another bot took over
// is lost (its lease's fencing refused the write); one the store could not
// take goes on, and says once that a bot that stops now resumes it from
// an earlier interval.
func (w *Watcher) save(ctx context.Context, r *deploy.Record, k *kept) {
	if k.c == nil || k.c.isLost() {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateStoreTimeout)
	defer cancel()
	err := w.put(sctx, r, k)
	switch {
	case err == nil:
	case errors.Is(err, deploy.ErrStoreReset):
		// Not "it goes on in this bot": the lease went with the store's
		// data, and the watch stops as for a lost lease.
		w.opt.Log.Error("sentry watch: save its progress: the state store was reset; the watch stops", "deploy", r.ID, "err", err)
		k.c.setReset()
	case errors.Is(err, deploy.ErrLeaseLost):
		w.opt.Log.Warn("sentry watch: taken over by another bot", "deploy", r.ID, "err", err)
		k.c.lost.Store(true)
	default:
		w.opt.Log.Error("sentry watch: save its progress", "deploy", r.ID, "err", err)
		if !k.failed {
			k.failed = true
			w.post(ctx, r, chat.Message{Level: chat.Warning, Public: true,
				Title: fmt.Sprintf("Error watch of %s %s on %s could not save its progress: %s", r.App, r.Build, r.Env, errs.Message(err)),
				Lines: []string{"it goes on in this bot; should the bot stop before a save succeeds, the next bot goes on from an interval judged already, and may say again what it found"}})
		}
	}
}

// forget deletes the saved watch of r, which has ended, and gives its
// lease back.
func (w *Watcher) forget(ctx context.Context, r *deploy.Record, c *claim) {
	if c == nil {
		return
	}
	c.stopRenewing()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateStoreTimeout)
	defer cancel()
	if err := w.opt.Watches.DeleteWatch(dctx, r.ID, c.lease.Token()); err != nil {
		w.opt.Log.Error("sentry watch: delete the ended watch", "deploy", r.ID, "err", err)
	}
	c.release(ctx, w.opt.Log)
}

// running reports whether this bot runs the watch of run id.
func (w *Watcher) running(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ids := range w.watching {
		if _, ok := ids[id]; ok {
			return true
		}
	}
	return false
}

// Resume goes on with the saved watches no bot runs: those a stopped bot
// left (at start-up) and, with replicas, those of a replica that died
// (once their lease ran out). Each resumes in the background where it
// was, after the message saying so, in its deploy's channel; one whose
// bot stopped while registering its run with Sentry finishes that first.
// A watch whose window ended while no bot ran it is ended with one
// message, nothing judged; one a later deploy or rollback ended is
// dropped quietly. It
// returns how many watches it resumed, and the store's errors: a watch
// that could not be read stays for a later Resume. Safe to call
// repeatedly and from several replicas: one bot runs a watch.
func (w *Watcher) Resume(ctx context.Context) (int, error) {
	if !w.durable() || !w.opt.Config.Sentry.Configured() {
		return 0, nil
	}
	lctx, cancel := context.WithTimeout(ctx, stateStoreTimeout)
	saved, err := w.opt.Watches.Watches(lctx)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("list saved watches: %w", err)
	}
	n := 0
	var failed []error
	for _, sw := range saved {
		if ctx.Err() != nil {
			break
		}
		if w.running(sw.ID) {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, stateStoreTimeout)
		taken := time.Now()
		l, err := w.opt.Leases.Acquire(actx, watchstore.LeaseKey(sw.ID), w.holder(sw.ID), w.opt.LeaseTTL)
		cancel()
		if errors.Is(err, deploy.ErrLeaseHeld) {
			continue // another bot runs it
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("take the watch of %s: %w", sw.ID, err))
			continue
		}
		resumed, err := w.resume(ctx, sw.ID, newClaim(l, w.opt.LeaseTTL, taken, w.opt.Log.With("deploy", sw.ID)))
		if err != nil {
			failed = append(failed, fmt.Errorf("resume the watch of %s: %w", sw.ID, err))
		}
		if resumed {
			n++
		}
	}
	return n, errors.Join(failed...)
}

// resume goes on with the saved watch of run id, whose lease c this bot
// has just taken, or ends it. It reports whether the watch runs again;
// when it does not, the lease is given back.
func (w *Watcher) resume(ctx context.Context, id string, c *claim) (bool, error) {
	log := w.opt.Log.With("deploy", id)
	rctx, cancel := context.WithTimeout(ctx, stateStoreTimeout)
	defer cancel()
	// Read again under the lease: the bot that ran it may have ended it
	// since it was listed, and what it wrote before the lease was taken
	// is what stays.
	sw, err := w.opt.Watches.Watch(rctx, id)
	if errors.Is(err, deploy.ErrNotFound) {
		c.release(ctx, w.opt.Log)
		return false, nil
	}
	if err != nil {
		c.release(ctx, w.opt.Log)
		return false, err
	}
	var st watchState
	if err := json.Unmarshal(sw.State, &st); err != nil {
		log.Error("sentry watch: a saved watch cannot be read; dropped", "err", err)
		w.forget(ctx, &deploy.Record{ID: id}, c)
		return false, nil
	}
	r, err := w.opt.History.Record(rctx, id)
	if errors.Is(err, deploy.ErrNotFound) {
		log.Warn("sentry watch: the watched deploy is not in the history any more; dropped")
		w.forget(ctx, &deploy.Record{ID: id}, c)
		return false, nil
	}
	if err != nil {
		c.release(ctx, w.opt.Log)
		return false, err
	}
	k := &kept{c: c, st: st}
	if st.Register == nil {
		msg, run, err := w.goOn(ctx, r, k, "the bot that ran it stopped; this one goes on where it was")
		if !run {
			return false, err
		}
		if !w.goDo(func(ctx context.Context) {
			w.post(ctx, r, msg)
			w.watch(ctx, r, k)
		}) {
			c.release(ctx, w.opt.Log)
			return false, nil
		}
		return true, nil
	}
	// The bot that ran it stopped while registering the run with Sentry:
	// this one finishes that first, in the background (Sentry may take
	// registerTimeout), and then goes on with the watch, or ends it, as
	// with any watch resumed.
	if !w.goDo(func(ctx context.Context) {
		w.register(ctx, nil, r, k)
		if w.lostBeforeStart(ctx, r, c) {
			return
		}
		msg, run, err := w.goOn(ctx, r, k, fmt.Sprintf("the bot that ran it stopped while registering the %s with Sentry; this one took that over and goes on with the watch", r.Kind))
		if err != nil {
			log.Warn("sentry watch: left for a later resume", "err", err)
		}
		if run {
			w.post(ctx, r, msg)
			w.watch(ctx, r, k)
		}
	}) {
		c.release(ctx, w.opt.Log)
		return false, nil
	}
	log.Info("sentry watch resumed: its registration with Sentry first")
	return true, nil
}

// goOn decides what becomes of the watch k of r that this bot resumes,
// under k's lease: it ends (the channel told why, unless a later run
// ended it, the lease given back) or runs, from where it was; msg says so
// then, after how, which says why this bot goes on with it. It returns
// an error, the lease given back, when the deploy history cannot be
// read: the watch stays for a later Resume.
func (w *Watcher) goOn(ctx context.Context, r *deploy.Record, k *kept, how string) (msg chat.Message, run bool, err error) {
	c, st := k.c, &k.st
	later, known := w.later(ctx, r)
	if !known {
		c.release(ctx, w.opt.Log)
		return msg, false, errors.New("the deploy history cannot be read")
	}
	if later != nil {
		// Ended by a later run while no bot ran it, as it would have
		// been with one: quietly.
		w.opt.Log.Info("sentry watch ended: a later run started", "deploy", r.ID, "later", later.ID)
		w.forget(ctx, r, c)
		return msg, false, nil
	}
	first, end, last := st.Policy.Schedule(r.Finished)
	next := st.Progress.Next
	if next.Before(first) {
		next = first
	}
	es := w.envOf(r.App, r.Env)
	switch {
	case !next.Before(end):
		// Every interval was judged before its bot stopped.
		w.forget(ctx, r, c)
		return msg, false, nil
	case es == nil:
		w.forget(ctx, r, c)
		w.post(ctx, r, chat.Message{Level: chat.Warning, Public: true,
			Title: fmt.Sprintf("Error watch of %s %s on %s ended: the config no longer watches %s/%s in Sentry", r.App, r.Build, r.Env, r.App, r.Env),
			Lines: []string{"nothing watches this deploy's errors any more, nor rolls it back by itself; check Sentry yourself"}})
		return msg, false, nil
	case !w.opt.Now().Before(last):
		// What was not judged while it ran is not judged now: a spike
		// found in it could roll back a deploy on data no one watched
		// as it came.
		w.forget(ctx, r, c)
		w.post(ctx, r, chat.Message{Level: chat.Warning, Public: true,
			Title: fmt.Sprintf("Error watch of %s %s on %s ended while no bot ran it", r.App, r.Build, r.Env),
			Lines: []string{fmt.Sprintf("it was to run until %s; the intervals from %s were never judged, and nothing rolls the deploy back by itself now; check Sentry yourself",
				w.clock(last), w.clock(next))}})
		return msg, false, nil
	}
	// Turning auto_rollback off in the config takes effect: the bot
	// does not roll back by itself against what its config now says.
	st.Policy.AutoRollback = st.Policy.AutoRollback && es.AutoRollback
	msg = chat.Message{Level: chat.Info, Public: true,
		Title: fmt.Sprintf("Error watch of %s %s on %s resumed from %s", r.App, r.Build, r.Env, w.clock(next)),
		Lines: []string{fmt.Sprintf("%s, until %s", how, w.clock(last))}}
	if st.Policy.AutoRollback {
		msg.Lines[0] += ", and rolls back by itself on a spike"
	}
	w.opt.Log.Info("sentry watch resumed", "deploy", r.ID, "from", next)
	return msg, true, nil
}
