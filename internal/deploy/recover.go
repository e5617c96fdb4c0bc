package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/errs"
)

// Recover finds deploys recorded as running whose process is gone (their
// app+env lease is free, or held by another deploy), marks them
// interrupted with the per-host state it can observe now, and returns
// them, in the order the store lists them. It never resumes or retries a
// deploy: only a person decides what happens next.
//
// The runs of different app+envs are recovered at once, recoverParallel
// at most: each reads its hosts (for up to recoverObserveTimeout), and a
// hung env held up every one after it. Those of one app+env go in turn:
// they share its lease, which one's recovery holding it would make
// another's take for a later deploy. After an error no further run is
// begun; those begun finish, and are returned with it. The error joins
// every app+env's failure (errors.Join), in the order the store lists
// them: two app+envs may fail for different causes (one's lease refused
// for a skewed clock, another's store read timed out), and the caller
// must see each.
func (e *Engine) Recover(ctx context.Context) ([]*Record, error) {
	recs, err := e.store.Records(ctx, Filter{Outcome: OutcomeRunning})
	if err != nil {
		return nil, fmt.Errorf("recover: list running deploys: %w", err)
	}
	var groups [][]int // indexes into recs, by app+env in the order first listed
	at := map[string]int{}
	for i, rec := range recs {
		k := rec.App + "/" + rec.Env
		g, ok := at[k]
		if !ok {
			g = len(groups)
			at[k] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	got := make([]*Record, len(recs))
	failures := make([]error, len(groups)) // each group writes only its own
	var (
		mu     sync.Mutex
		anyErr bool
		wg     sync.WaitGroup
	)
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return anyErr
	}
	slots := make(chan struct{}, recoverParallel)
	for gi, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			for _, i := range g {
				if failed() {
					return
				}
				rec, err := e.recoverOne(ctx, recs[i])
				got[i] = rec
				if err != nil {
					failures[gi] = err
					mu.Lock()
					anyErr = true
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	var out []*Record
	for _, rec := range got {
		if rec != nil {
			out = append(out, rec)
		}
	}
	return out, errors.Join(failures...)
}

// recoverParallel bounds how many app+envs Recover recovers at once.
const recoverParallel = 4

// recoverOne recovers rec (see Recover): the record it marked
// interrupted, or nil when it left it (this process or another runs it,
// another replica reports it, or the recovery's lease was lost).
func (e *Engine) recoverOne(ctx context.Context, rec *Record) (*Record, error) {
	e.mu.Lock()
	r, busy := e.running[rec.App+"/"+rec.Env]
	e.mu.Unlock()
	if busy && r.rec.ID == rec.ID {
		return nil, nil // this process runs it
	}
	taken := e.now()
	lease, err := e.leases.Acquire(ctx, LeaseKey(rec.App, rec.Env), "recovery:"+rec.ID, e.leaseTTL)
	var held *LeaseHeldError
	switch {
	case errors.As(err, &held) && supersedes(held.Holder, rec.ID):
		// Another deploy took the app+env over once this one's
		// lease ran out: this one is dead, and the hosts are the
		// other's to change, so they are not observed now. A lease
		// of its own keeps two replicas' recoveries from both
		// reporting it.
		rl, err := e.leases.Acquire(ctx, RecoverLeaseKey(rec.ID), "recovery:"+rec.ID, e.leaseTTL)
		if errors.Is(err, ErrLeaseHeld) {
			return nil, nil // another replica reports it
		}
		if err != nil {
			return nil, fmt.Errorf("recover %s: %w", rec.ID, err)
		}
		// Written under the holder's token: the store refuses any
		// older than the newest of the app+env's lease.
		got, err := e.interrupt(ctx, rec.ID, max(rec.Fence+1, held.Token), func(r *Record) {
			r.Error = fmt.Sprintf("the process running this %s (%s) stopped before it finished; %s took %s/%s over since, so the hosts are as this %s last recorded them",
				r.Kind, r.Owner, strings.Fields(held.Holder)[0], r.App, r.Env, r.Kind)
		})
		e.releaseRecovery(rl, rec.ID)
		if errors.Is(err, ErrLeaseLost) {
			// The record holds a newer account, whose writer reports
			// it; or the lease moved on again, and the next holder
			// (takeOver) or the next round reports it.
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return got, nil
	case errors.Is(err, ErrLeaseHeld):
		return nil, nil // still running somewhere
	case err != nil:
		return nil, fmt.Errorf("recover %s: %w", rec.ID, err)
	}
	// From here the store refuses the dead holder's writes (its token
	// is older than the lease's newest): should it be alive after
	// all, what interrupt reads is all it wrote, and what the hosts
	// are observed into.
	rctx, stop := e.renewWhile(ctx, lease, taken, rec.ID)
	got, err := e.interrupt(rctx, rec.ID, lease.Token(), func(r *Record) { e.observeInto(rctx, r) })
	stop()
	e.releaseRecovery(lease, rec.ID)
	if cause := context.Cause(rctx); err != nil && errors.Is(cause, ErrLeaseLost) {
		// Whatever the loss cut short (a read of the record, of a
		// host) failed for it.
		err = fmt.Errorf("recover %s: %w", rec.ID, cause)
	}
	switch {
	case errors.Is(err, ErrStoreReset):
		// The store refuses every call until the bot restarts: no
		// other deploy can be recovered on it either.
		return nil, err
	case errors.Is(err, ErrLeaseLost):
		// Nothing was written: another replica may hold the lease
		// and report the run, or the next round takes the lease
		// afresh and reads the record again, so it is recorded once.
		e.log.Error("recovery stopped, nothing recorded: its lease was lost", "deploy", rec.ID, "app", rec.App, "env", rec.Env, "err", err)
		return nil, nil
	case err != nil:
		return nil, err
	}
	return got, nil
}

// supersedes reports whether a lease holder is another deploy or
// rollback than id, or another deploy's recovery: either way id's process
// no longer holds the app+env.
func supersedes(holder, id string) bool {
	who := strings.Fields(holder)
	return len(who) > 0 && who[0] != id && who[0] != "recovery:"+id
}

// interrupt marks the record id interrupted, if it is still running (the
// list may be stale: the deploy may have finished since it was read), and
// returns it; nil when it was not running any more. fence stamps the
// record: at least the newest token of the app+env's lease, which the
// store requires of a write, it keeps refusing the deploy's process,
// should that still be alive somewhere, once the lease moves on.
func (e *Engine) interrupt(ctx context.Context, id string, fence int64, hosts func(*Record)) (*Record, error) {
	rec, err := e.store.Record(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("recover %s: %w", id, err)
	}
	if rec.Outcome != OutcomeRunning {
		return nil, nil
	}
	rec.Fence = max(fence, rec.Fence)
	rec.Outcome = OutcomeInterrupted
	rec.Finished = e.now()
	rec.Error = fmt.Sprintf("the process running this %s (%s) stopped before it finished; hosts are as observed at recovery", rec.Kind, rec.Owner)
	hosts(rec)
	if kept := rec.LockKept(); kept != "" {
		rec.Error += "; " + kept
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrLeaseLost) {
		// The recovery's lease was lost while it observed the hosts:
		// another replica may be recovering the run, and this account
		// must not be the one kept, nor reported.
		return nil, fmt.Errorf("recover %s: %w", id, cause)
	}
	if err := e.store.PutRecord(ctx, rec); err != nil {
		return nil, fmt.Errorf("recover %s: %w", id, err)
	}
	e.log.Warn("deploy interrupted", "deploy", rec.ID, "app", rec.App, "env", rec.Env)
	// Its process died before it could tell the observers (metrics,
	// StatsD markers, post-deploy work) how it ended: this is its end,
	// recorded once, here.
	ev := Event{Kind: EventFinished, Time: rec.Finished, DeployID: rec.ID, App: rec.App, Env: rec.Env, Build: rec.Build}
	for _, o := range e.observers {
		ev.Record = rec.Clone()
		o(ev)
	}
	return rec, nil
}

// recoverObserveTimeout bounds how long a recovery reads the hosts of the
// run it marks interrupted. It runs as the bot starts, and what starts
// after it (trains, resumed watches) waits for it: a host that logs in
// and then hangs would otherwise hold them for the env's step_timeout,
// and the app+env's lease, which refuses its deploys meanwhile. A host not read by then keeps what the run last
// recorded of it; the next deploy or rollback reads every host again
// before it changes anything.
const recoverObserveTimeout = 15 * time.Second

// observeInto adds what each host runs now to an interrupted record.
func (e *Engine) observeInto(ctx context.Context, rec *Record) {
	octx, cancel := context.WithTimeout(ctx, recoverObserveTimeout)
	defer cancel()
	observed, err := e.Observe(WithLog(octx, e.log.With("deploy", rec.ID, "app", rec.App, "env", rec.Env)), rec.App, rec.Env)
	if err != nil {
		rec.Error += "; could not observe hosts: " + err.Error()
	}
	if ctx.Err() == nil && octx.Err() != nil {
		var unread []string
		for _, o := range observed {
			if o.State != "" {
				unread = append(unread, o.Host)
			}
		}
		if len(unread) > 0 {
			rec.Error += fmt.Sprintf("; could not read %s within %s: shown as this %s last recorded", andList(unread), recoverObserveTimeout, rec.Kind)
		}
	}
	mergeObserved(rec, observed)
}

// takeOver marks interrupted the runs of r's app+env that are still
// recorded running although r holds the lease: their process died, and
// the recovery that would report it (at start-up, or when its lease ran
// out on another replica) has not come yet. They are marked before r reads
// the history, which then sees what they left (hosts stuck mid-switch),
// with the hosts as r found them, and each is reported as a recovery
// would.
func (r *run) takeOver(ctx context.Context) error {
	recs, err := r.e.store.Records(ctx, Filter{App: r.t.app.Name, Env: r.t.env.Name, Outcome: OutcomeRunning})
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "cannot read the deploy history of %s to see whether a run died there; nothing was changed", r.t.key())
	}
	observed := make([]HostResult, 0, len(r.hosts))
	for _, h := range r.hosts {
		if st, ok := r.states[h.Name]; ok {
			observed = append(observed, HostResult{Host: h.Name, Current: st.Current, Previous: st.Previous})
		}
	}
	for _, o := range r.outErr {
		observed = append(observed, HostResult{Host: o.host, State: o.state, Error: o.err.Error()})
	}
	for _, rec := range recs {
		r.e.mu.Lock()
		other, busy := r.e.running[r.t.key()]
		r.e.mu.Unlock()
		if rec.ID == r.rec.ID || busy && other.rec.ID == rec.ID {
			continue // a run of this process that lost its lease ends as that
		}
		// The lease Recover takes for such a run: a replica's recovery
		// finding it at the same moment reports it, or this run does.
		rl, err := r.e.leases.Acquire(ctx, RecoverLeaseKey(rec.ID), "recovery:"+rec.ID, r.e.leaseTTL)
		if errors.Is(err, ErrLeaseHeld) {
			continue
		}
		if err != nil {
			return errs.Wrap(errs.Unavailable, err, "cannot mark %s %s, whose process died, interrupted; nothing was changed", rec.Kind, rec.ID)
		}
		got, err := r.e.interrupt(ctx, rec.ID, r.lease.Token(), func(dead *Record) {
			dead.Error += fmt.Sprintf(" (found by %s %s, which took %s over)", r.rec.Kind, r.rec.ID, r.t.key())
			mergeObserved(dead, observed)
		})
		r.e.releaseRecovery(rl, rec.ID)
		if err != nil {
			return errs.Wrap(errs.Unavailable, err, "cannot mark %s %s, whose process died, interrupted; nothing was changed", rec.Kind, rec.ID)
		}
		if got != nil {
			// Reported now, whether this run starts or is refused.
			r.tookOver = append(r.tookOver, got)
			r.e.report(got)
		}
	}
	return nil
}

// report hands a run the engine marked interrupted outside Recover to
// Options.Interrupted, in a goroutine Drain waits for.
func (e *Engine) report(rec *Record) {
	if e.interrupted == nil {
		return
	}
	e.mu.Lock()
	draining := e.draining
	if !draining {
		e.wg.Add(1)
	}
	e.mu.Unlock()
	if draining {
		e.interrupted(rec)
		return
	}
	go func() {
		defer e.wg.Done()
		e.interrupted(rec)
	}()
}

// mergeObserved puts what each host runs now into an interrupted record.
func mergeObserved(rec *Record, observed []HostResult) {
	for _, o := range observed {
		h := rec.Host(o.Host)
		if h == nil {
			rec.Hosts = append(rec.Hosts, o)
			continue
		}
		if o.State != "" { // not observed: unreachable or refused
			// Its last recorded release is the best account left. One
			// the run was activating was lost in the middle of its step:
			// it may have hung there, and goes on with it once back.
			if h.State == HostActivating {
				h.Lost = true
			}
			h.State, h.Error, h.Unread = o.State, o.Error, true
			continue
		}
		// Activating and found on the run's build, from another release,
		// or on the release it was switching to: the run switched it and
		// died before the write saying so (it follows the switch, while
		// the restart runs). A later rollback must find it switched to
		// finish it.
		if h.State == HostActivating && !h.Switched && o.Current != "" && o.Current == rec.Build && h.Previous != rec.Build {
			h.Switched = true
		}
		if h.Switching != "" && o.Current == h.Switching {
			h.Switched = true
		}
		h.Current, h.Switching, h.Unread = o.Current, "", false
		if h.State == HostUnreachable {
			// The run could not reach it, the recovery did: its state
			// must not say it is unreachable now. The run failed there
			// (a rollback still finishes it if it may have switched).
			h.State, h.Error = HostFailed, fmt.Sprintf("unreachable during the %s: %s", rec.Kind, h.Error)
		}
	}
}

// renewWhile renews a recovery's lease until the returned func is called:
// observing the hosts can outlast the TTL, and another replica must not
// recover (and report) the same deploy meanwhile. The returned context is
// cancelled, with a cause wrapping ErrLeaseLost, when a renewal finds the
// lease lost or the store reset, or the lease ran out by this process's
// clock: another replica may be recovering the run then (or, on a reset
// store, nothing can be recorded until the bot restarts), so the recovery
// stops observing and writes nothing.
func (e *Engine) renewWhile(ctx context.Context, lease Lease, taken time.Time, id string) (context.Context, func()) {
	rctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		renewEvery(lease, newLeaseClock(e.now, taken, e.leaseTTL), done, func(err error) bool {
			if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrStoreReset) {
				// Cancelled before it is logged: whoever reads the
				// log finds the recovery stopped already.
				cancel(fmt.Errorf("%w: %w", ErrLeaseLost, err))
				e.log.Error("renew recovery lease: lost, so the recovery stops and records nothing", "deploy", id, "err", err)
				return true
			}
			e.log.Warn("renew recovery lease", "deploy", id, "err", err)
			return false
		})
	}()
	return rctx, func() {
		close(done)
		<-ended
		cancel(nil)
	}
}

// releaseRecovery frees a recovery's lease even when ctx has ended (a
// stopping bot): left held, it would refuse deploys of the app+env for a
// whole TTL.
func (e *Engine) releaseRecovery(lease Lease, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), defaultStoreTimeout)
	defer cancel()
	if err := lease.Release(ctx); err != nil {
		e.log.Warn("release recovery lease", "deploy", id, "err", err)
	}
}
