package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/switchman-bot/switchman/internal/artifact"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/redact"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// Deploy checks the request, takes the app+env lease, connects to every host
// and starts the deploy in the background. It returns the new record, or an
// error with a code and a message for people when nothing was started
// (errs.NoChange when every host already runs the build). Progress and the
// final record go to sink.
func (e *Engine) Deploy(ctx context.Context, req Request, sink Sink) (_ *Record, err error) {
	if !ValidBuild(req.Build) {
		return nil, errs.New(errs.Invalid, "invalid build %q", req.Build)
	}
	t, err := e.resolve(req.App, req.Env)
	if err != nil {
		return nil, err
	}
	src := t.source()
	info, err := src.Stat(ctx, t.app.Name, req.Build)
	if err != nil {
		refusal := src.Refusal(t.app.Name, req.Build, err)
		refusal.Msg += "; nothing was changed"
		return nil, refusal
	}

	r, err := e.begin(ctx, t, KindDeploy, req, sink)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.starting.end(err)
		}
	}()
	// Hosts a run left on this build without a passing restart (it died
	// mid-switch, drained perhaps) are restarted again, not skipped as
	// running it already.
	last, err := r.lastSwitchingRun()
	if err != nil {
		r.abandon()
		return nil, err
	}
	if last != nil {
		r.again = r.stuckOn(last, req.Build)
	}
	// The release the deploy moves the fleet from: what the first host
	// not on the build yet runs. A host an earlier run left switched to
	// the build (restarted again) ran its `previous` before that run;
	// taken at its word, the record said "deploy 3 (from 3)", and its
	// Rollback button, were this run interrupted too, went "to 3 from 3".
	need, current, stuckFrom := 0, "", ""
	for _, h := range r.live() {
		st := r.states[h.Name]
		switch {
		case r.again[h.Name]:
			if stuckFrom == "" {
				stuckFrom = st.Previous
			}
		case current == "" && st.Current != req.Build:
			current = st.Current
		}
		if st.Current != req.Build || r.again[h.Name] {
			need++
		}
	}
	if need == 0 {
		return nil, r.nothingToDo(errs.New(errs.NoChange, "%s already runs build %s on every reachable host; nothing to do", t.key(), req.Build))
	}
	// Before any host receives anything: a delivery that fills a host's
	// disk fails, and the app running there fails with it.
	if err := shortOfSpace(t, r.live(), r.states, req.Build, info.Size); err != nil {
		r.abandon()
		return nil, err
	}
	if err := r.shortOfInodes(src, info); err != nil {
		r.abandon()
		return nil, err
	}
	if current == "" {
		current = stuckFrom
	}
	r.rec.Previous = current
	return r.start(func() (Outcome, error) { return r.deploy(src, info) })
}

// begin takes the lease, opens the hosts and builds the run and its record;
// nothing is persisted or changed yet.
func (e *Engine) begin(ctx context.Context, t target, kind Kind, req Request, sink Sink) (_ *run, err error) {
	if err := e.refuseDraining(kind); err != nil {
		return nil, err
	}
	id := newID(e.now())
	what := string(kind)
	if req.Build != "" {
		what += " of build " + req.Build
	}
	log := e.log.With("deploy", id, "app", t.app.Name, "env", t.env.Name)
	// What the transports log while they serve this run names it too.
	ctx = WithLog(ctx, log)
	watch := e.watchStart(log, kind, req)
	defer func() {
		if err != nil {
			watch.end(err)
		}
	}()
	taken := e.now() // the lease runs out leaseTTL from here at the earliest
	lease, err := e.acquire(ctx, t, kind, id, what+" by "+req.Requester)
	if err != nil {
		return nil, err
	}
	clock := newLeaseClock(e.now, taken, e.leaseTTL)
	if req.Admit != nil {
		watch.at("admission (window, locks)")
		forced, err := e.admit(ctx, req.Admit, lease, clock, log)
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultStoreTimeout)
			defer cancel()
			if rerr := lease.Release(rctx); rerr != nil {
				e.log.Warn("release deploy lease", "deploy", id, "app", t.app.Name, "env", t.env.Name, "err", rerr)
			}
			if errors.Is(err, ErrLeaseLost) {
				return nil, errs.Wrap(errs.Unavailable, err, "the %s lease of %s was lost during its admission (window, locks); nothing was changed: try again", kind, t.key())
			}
			return nil, err
		}
		if !forced {
			req.Forced = ""
		}
	}
	rctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	r := &run{e: e, t: t, lease: lease, leaseClock: clock, log: log, starting: watch, renewing: make(chan struct{}), sink: sink, ctx: rctx, cancel: cancel, hosts: t.hosts()}
	r.rec = &Record{
		ID: id, Kind: kind, App: t.app.Name, Env: t.env.Name, Build: req.Build,
		Requester: req.Requester, Platform: req.Platform, Channel: req.Channel,
		Forced: req.Forced, Started: e.now(), Outcome: OutcomeRunning,
		Owner: e.owner, Fence: lease.Token(), Run: newRunToken(),
	}
	if kind == KindDeploy && t.app.Migrations.List != "" {
		// Written with the first record: no write of its own.
		r.rec.MigrationState = MigrationsNotStarted
	}
	for _, h := range r.hosts {
		r.rec.Hosts = append(r.rec.Hosts, HostResult{Host: h.Name, State: HostPending})
	}
	e.mu.Lock()
	e.starting[t.key()] = r
	e.mu.Unlock()
	go r.keepLease(r.renewing)
	if e.signals != nil {
		go r.watchSignals(r.renewing)
	}
	watch.at("opening the hosts")
	if err := r.open(ctx); err != nil {
		r.abandon()
		return nil, err
	}
	watch.at("reading the runs of the app+env")
	if err := r.takeOver(ctx); err != nil {
		r.abandon()
		return nil, err
	}
	watch.at("checking the load balancer")
	if err := r.poolCheck(ctx); err != nil {
		r.abandon()
		return nil, err
	}
	for _, h := range r.live() {
		st := r.states[h.Name]
		hr := r.rec.Host(h.Name)
		hr.Current, hr.Previous = st.Current, st.Current
	}
	for _, o := range r.outErr {
		hr := r.rec.Host(o.host)
		hr.State, hr.Error = o.state, o.err.Error()
	}
	watch.at("reading the runs of the app+env")
	return r, nil
}

// admit runs a run's admission (see Request.Admit) while it renews lease,
// whose clock is clock: the admission may outlast the lease's TTL (a
// chat platform slow to say whether an admin is around, a store slow to
// read the locks), and a deploy must not be refused for that, nor another
// replica take its app+env meanwhile. A lease lost meanwhile (a renewal
// finds it lost, or it ran out by clock) cancels the admission's context
// and returns an error wrapping ErrLeaseLost, whatever admit returned.
func (e *Engine) admit(ctx context.Context, admit func(context.Context) (bool, error), lease Lease, clock *leaseClock, log *slog.Logger) (bool, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var lost error // set by the renewals, read once they ended
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		renewEvery(lease, clock, done, func(err error) bool {
			log.Error("renew deploy lease", "err", err)
			if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrStoreReset) {
				lost = fmt.Errorf("%w: %w", ErrLeaseLost, err)
				cancel(lost)
				return true
			}
			return false
		})
	}()
	forced, err := admit(actx)
	close(done)
	<-ended
	if lost != nil {
		return false, lost
	}
	if rerr := clock.runOut(); rerr != nil {
		return false, rerr
	}
	return forced, err
}

// poolCheck checks the env's load balancer before anything changes, and
// sets r.keepOut. A balancer found unusable only at the first host's
// drain would fail that host and mark the build bad there, for what a
// check before anything changes says with nothing changed.
//
// A host out of rotation that the last run switching that host did not leave
// there (failed or stopped after its switch, drained perhaps) was taken
// out by someone, a flaky host, say: it is restarted like the others but
// not put back into rotation, which is theirs to decide.
func (r *run) poolCheck(ctx context.Context) error {
	keep, back, err := r.e.poolCheck(ctx, r.t, r.live(), r.rec.ID, "nothing was changed")
	if err != nil {
		return err
	}
	r.keepOut, r.leftBehind = keep, back
	return nil
}

// poolCheck checks t's load balancer for a run (self: its id, or "") of
// hosts, and returns the hosts out of rotation there that stay out, and
// those the last run left out without switching them (see
// leftUnswitched). An unusable balancer's error ends with then.
func (e *Engine) poolCheck(ctx context.Context, t target, hosts []Host, self, then string) (keep map[string]string, back map[string]bool, err error) {
	return e.poolCheckAfter(ctx, t, hosts, func() ([]*Record, error) { return e.recentRecords(ctx, t) }, self, then)
}

// poolCheckAfter is poolCheck with history, which returns t's newest
// records, newest first; it is called only when the balancer has hosts
// out of rotation.
func (e *Engine) poolCheckAfter(ctx context.Context, t target, hosts []Host, history func() ([]*Record, error), self, then string) (keep map[string]string, back map[string]bool, err error) {
	if t.pool == nil {
		return nil, nil, nil
	}
	out, err := t.pool.Check(ctx, hosts)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Unavailable, err, "the load balancer of %s cannot take its hosts out of rotation: %v; %s", t.key(), err, then)
	}
	if len(out) == 0 {
		return nil, nil, nil
	}
	recs, err := history()
	if err != nil {
		return nil, nil, err
	}
	keep, back = map[string]string{}, map[string]bool{}
	for host, state := range out {
		if leftOutBy(recs, self, host) {
			// The last run that switched it left it there.
			if leftUnswitched(recs, self, host) {
				back[host] = true
			}
			continue
		}
		keep[host] = state
	}
	return keep, back, nil
}

// leftUnswitched reports whether the run leftOutBy names left host out of
// rotation without switching it (LeftOut, or stopped while activating it
// before its switch): its process was never restarted and serves what it
// served, so a run that does not switch it either puts it back (see
// putBack).
func leftUnswitched(recs []*Record, self, host string) bool {
	hr := lastTouched(recs, self, host)
	return hr != nil && !hr.MayHaveSwitched()
}

// lastTouched is host's result in the newest finished run of recs (newest
// first) other than self that switched it, may have, left it out or was
// switching it; nil for none.
func lastTouched(recs []*Record, self, host string) *HostResult {
	for _, rec := range recs {
		if rec.ID == self || !rec.Outcome.Done() {
			continue
		}
		if hr := rec.Host(host); hr != nil && (hr.MayHaveSwitched() || hr.LeftOut || hr.State == HostActivating) {
			return hr
		}
	}
	return nil
}

// putBack puts back into rotation the hosts the last run left out without
// switching them (r.leftBehind) that this run did not switch either, nor
// leave out: a host already on this run's build or target is not drained
// and readied like the others, and would otherwise stay out until a run
// switches it, whatever this run's outcome says. One it cannot put back
// is recorded LeftOut again, for the next run. A host is put back only
// under the lease, checked before each (see leaseGone): this comes after
// the run's last fencing check and ignores its cancel, and a replica that
// lost the lease since would put back into rotation a host the one
// holding it now may have drained to switch it. Once the lease is found
// lost, no further host is put back (each stays as the last run left it,
// for the next run to put back), a note names them, and the run is
// stopped with that cause: it ends as any run that lost its lease does.
func (r *run) putBack() {
	if r.t.pool == nil || len(r.leftBehind) == 0 {
		return
	}
	ctx := context.WithoutCancel(r.ctx)
	var (
		lost error
		left []string
	)
	for _, h := range r.hosts {
		if !r.toPutBack(h.Name) {
			continue
		}
		if lost == nil {
			lost = r.leaseGone()
		}
		if lost != nil {
			left = append(left, h.Name)
			continue
		}
		r.note("%s was left out of rotation by the last run, which did not switch it, and this %s did not switch it either: putting it back", h.Name, r.rec.Kind)
		if err := r.t.pool.Ready(ctx, h); err != nil {
			r.setHost(h.Name, func(hr *HostResult) { hr.LeftOut = true })
			r.note("%s: putting it back into rotation failed: %v — check it in the load balancer", h.Name, err)
		}
	}
	if lost != nil {
		r.cancel(lost)
		r.log.Warn("put back into rotation skipped: deploy lease lost", "hosts", left, "err", lost)
		them := "them"
		if len(left) == 1 {
			them = "it"
		}
		r.note("%s not put back into rotation, left out as the last run left %s: this replica lost the deploy lease (it ran out, or the state store could not confirm it), and the replica holding the lease now may have drained %s to switch %s; check %s in the load balancer once that replica's run ends",
			strings.Join(left, ", "), them, them, them, them)
	}
}

// toPutBack reports whether host is one putBack puts back: left out by
// the last run without a switch, reached by this run, and neither switched
// nor left out by it.
func (r *run) toPutBack(host string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	hr := r.rec.Host(host)
	return r.leftBehind[host] && !r.out[host] && r.sessions[host] != nil && !hr.MayHaveSwitched() && !hr.LeftOut
}

// putBackUnchanged is putBack for a run with nothing to do, which drains
// and readies no host: a host the last run left out without switching it,
// which runs build already, would otherwise stay out of rotation until a
// run switches it. It checks the lease before each host as putBack does,
// and writes nothing: the run is not recorded, and a host it does not put
// back stays as the last run's record left it, left out, for the next run
// to put back. It returns what the reply says of the hosts ("" for none)
// and those it did not put back.
func (r *run) putBackUnchanged(build string) (said string, left []string) {
	if r.t.pool == nil || len(r.leftBehind) == 0 || build == "" {
		return "", nil
	}
	ctx := context.WithoutCancel(r.ctx)
	var (
		lost       error
		back, kept []string
		parts      []string
	)
	for _, h := range r.hosts {
		if !r.toPutBack(h.Name) || r.states[h.Name].Current != build {
			continue
		}
		if lost == nil {
			lost = r.leaseGone()
		}
		if lost != nil {
			kept = append(kept, h.Name)
			continue
		}
		if err := r.t.pool.Ready(ctx, h); err != nil {
			r.log.Warn("put back into rotation", "host", h.Name, "err", err)
			left = append(left, h.Name)
			parts = append(parts, fmt.Sprintf("putting %s back into rotation, where the last run left it out, failed: %v — it is still out; check it in the load balancer", h.Name, err))
			continue
		}
		back = append(back, h.Name)
	}
	if len(back) > 0 {
		r.log.Info("put back into rotation by a run with nothing to do", "hosts", back)
		parts = append([]string{fmt.Sprintf("%s, left out of rotation by the last run without a switch, put back into rotation", strings.Join(back, ", "))}, parts...)
	}
	if lost != nil {
		r.log.Warn("put back into rotation skipped: deploy lease lost", "hosts", kept, "err", lost)
		left = append(left, kept...)
		them := "them"
		if len(kept) == 1 {
			them = "it"
		}
		parts = append(parts, fmt.Sprintf("%s not put back into rotation, left out as the last run left %s: this replica lost the deploy lease (it ran out, or the state store could not confirm it), and the replica holding the lease now may have drained %s to switch %s; check %s in the load balancer once that replica's run ends",
			strings.Join(kept, ", "), them, them, them, them))
	}
	return strings.Join(parts, "; "), left
}

// leftOutBy reports whether the last finished run among recs (newest
// first), other than self, that switched host left it unfinished (see
// unfinished), and so out of rotation, or left it out without a switch
// (LeftOut), or stopped while it was activating there before its switch
// (a run that died during the drain, or between it and the switch: the
// recovery found the host on the release it ran, not switched, and the
// drain may have taken it out). It is the last run to switch that
// host, not the last to switch any: a run that stopped before reaching a
// host (a failed canary) did not take back what an earlier run left.
func leftOutBy(recs []*Record, self, host string) bool {
	hr := lastTouched(recs, self, host)
	return hr != nil && (hr.LeftOut || hr.State == HostActivating || unfinished(*hr))
}

// abandon gives up a run that never started: nothing was recorded.
func (r *run) abandon() {
	r.starting.done()
	r.forgetStarting()
	close(r.renewing)
	r.closeSessions()
	r.cancel(errCancelled)
	ctx, cancel := context.WithTimeout(context.Background(), defaultStoreTimeout)
	defer cancel()
	if err := r.lease.Release(ctx); err != nil {
		r.log.Warn("release deploy lease", "err", err)
	}
}

// forgetStarting takes r out of the runs being started, if it is there.
func (r *run) forgetStarting() {
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	if r.e.starting[r.t.key()] == r {
		delete(r.e.starting, r.t.key())
	}
}

// nothingToDo ends a run that has nothing to do, noop (an errs.NoChange
// refusal) saying so, and releases its lease. A run that reached every
// host and found them all on one release has seen them agree: an
// interrupted run of the app+env that no later run resolved, whose hosts
// someone may have put right by hand since, is resolved by that (see
// Unresolved). The run is then recorded, unchanged, and noop says so;
// otherwise nothing is written, as before.
func (r *run) nothingToDo(noop error) error {
	defer r.abandon()
	var left []string
	if live := r.live(); len(live) > 0 {
		// Every host reached runs one build: noop says so.
		var said string
		said, left = r.putBackUnchanged(r.states[live[0].Name].Current)
		if said != "" {
			noop = errs.New(errs.CodeOf(noop), "%s; %s", errs.Message(noop), said)
		}
	}
	if len(r.live()) != len(r.hosts) {
		// A host not reached may be on another release: said so, it is
		// not taken for one that runs it.
		return errs.New(errs.CodeOf(noop), "%s; %s", errs.Message(noop), r.notReached())
	}
	build := r.states[r.hosts[0].Name].Current
	for _, h := range r.hosts {
		if st := r.states[h.Name]; build == "" || st.Current != build {
			return noop
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), defaultStoreTimeout)
	defer cancel()
	stuck, err := r.e.unresolved(ctx, r.t)
	if err != nil {
		// An interrupted run may be left that this one would have
		// resolved: told only "nothing to do", people would take the
		// env for settled.
		r.log.Warn("read the deploy history to resolve an interrupted run", "err", err)
		return errs.New(errs.CodeOf(noop), "%s; could not read the deploy history to see whether an interrupted run is left to resolve: %v — %s shows it", errs.Message(noop), err, suggest.Command("status "+r.t.app.Name))
	}
	if stuck == nil {
		return noop
	}
	r.mu.Lock()
	r.rec.Build, r.rec.Previous, r.rec.MigrationState = build, "", ""
	r.rec.Outcome, r.rec.Finished = OutcomeUnchanged, r.e.now()
	r.rec.Error = fmt.Sprintf("every host ran %s already: nothing to do; %s %s, interrupted, is resolved", build, stuck.Kind, stuck.ID)
	for i := range r.rec.Hosts {
		// One not put back stays left out in this record too: the next
		// run may find this one first.
		r.rec.Hosts[i].State = HostUnchanged
		r.rec.Hosts[i].LeftOut = slices.Contains(left, r.rec.Hosts[i].Host)
	}
	r.mu.Unlock()
	if err := r.e.store.PutRecord(ctx, r.snapshot()); err != nil {
		r.log.Warn("record a run that resolves an interrupted one", "interrupted", stuck.ID, "err", err)
		return r.notResolved(noop, stuck, build, err)
	}
	// Recorded, it is a run that ended: logged as every other one is.
	r.starting.settle()
	r.logEnd(OutcomeUnchanged, nil)
	return errs.New(errs.NoChange, "%s; %s %s, interrupted, is resolved: every host was reached and runs %s (recorded as %s %s, unchanged)",
		errs.Message(noop), stuck.Kind, stuck.ID, build, r.rec.Kind, r.rec.ID)
}

// notResolved is noop once the write of the record that resolves
// interrupted run stuck, every host found on build, failed with err.
// Told only "nothing to do", people took the run for resolved while
// status still showed it unresolved. A store that stored nothing of the
// write leaves it unresolved for sure; any other failure (a dropped
// connection, a timeout) may have been applied all the same, so whether
// it is resolved is not known (see OutcomeUnknown). Either way the same
// run again, nothing to do, resolves it. The hosts are as they were:
// noop keeps its code. err is quoted, not wrapped: the chat layer would
// answer a wrapped store reset or full disk with the store's words alone.
func (r *run) notResolved(noop error, stuck *Record, build string, err error) error {
	again := suggest.Command("deploy " + r.t.app.Name + " " + build + " to " + r.t.env.Name)
	if r.rec.Kind == KindRollback {
		again = suggest.Command("rollback " + r.t.app.Name + " " + r.t.env.Name + " to " + build)
	}
	status := suggest.Command("status " + r.t.app.Name)
	if wroteNothing(err) {
		return errs.New(errs.CodeOf(noop), "%s; %s %s, interrupted, is still unresolved: every host was reached and runs %s, but the record that resolves it could not be written (%v), so %s still shows it; once the state store takes writes again, %s resolves it",
			errs.Message(noop), stuck.Kind, stuck.ID, build, err, status, again)
	}
	return errs.New(errs.CodeOf(noop), "%s; whether %s %s, interrupted, is resolved is not known: every host was reached and runs %s, but the record that resolves it may not have been written (%v); %s shows whether it is still unresolved, and %s resolves it if it is",
		errs.Message(noop), stuck.Kind, stuck.ID, build, err, status, again)
}

// notReached names the hosts the run left out as it opened them (down,
// or refused), which may run another release than the others.
func (r *run) notReached() string {
	var down, refused []string
	for _, o := range r.outErr {
		if o.state == HostUnreachable {
			down = append(down, o.host)
		} else {
			refused = append(refused, o.host)
		}
	}
	var parts []string
	if len(down) > 0 {
		parts = append(parts, strings.Join(down, ", ")+" could not be reached")
	}
	if len(refused) > 0 {
		parts = append(parts, strings.Join(refused, ", ")+" could not be used")
	}
	return strings.Join(parts, " and ") + ", and may run another release"
}

// unresolved returns the interrupted run of t that no later run resolved
// (see Unresolved), or nil. It reads the newest records first, which tell
// in most envs, and all of them only when it must.
func (e *Engine) unresolved(ctx context.Context, t target) (*Record, error) {
	for _, limit := range []int{20, 0} {
		recs, err := e.store.Records(ctx, Filter{App: t.app.Name, Env: t.env.Name, Limit: limit})
		if err != nil {
			return nil, err
		}
		if stuck, complete := Unresolved(recs); complete || limit == 0 || len(recs) < limit {
			return stuck, nil
		}
	}
	return nil, nil
}

// start records the run, registers it and runs body in the background.
// A run the store cannot record does not start: a crash would leave no
// trace of what it did to the hosts.
func (r *run) start(body func() (Outcome, error)) (*Record, error) {
	// Counted before anything is recorded, under the lock Drain takes: a
	// run either starts before Drain and is waited for, or not at all.
	r.e.mu.Lock()
	draining := r.e.draining
	if !draining {
		r.e.wg.Add(1)
	}
	r.e.mu.Unlock()
	if draining {
		r.abandon()
		return nil, r.e.refuseDraining(r.rec.Kind)
	}
	if cause := context.Cause(r.ctx); errors.Is(cause, errCancelled) {
		// Cancelled (here, or from another replica) while its hosts were
		// opened.
		r.e.wg.Done()
		r.abandon()
		return nil, errs.New(errs.Conflict, "%s %s was %v before it started; nothing was changed", r.rec.Kind, r.rec.ID, cause)
	}
	r.starting.at("recording the start")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), defaultStoreTimeout)
	defer cancel()
	if err := r.fence(ctx); err != nil {
		// The lease was lost (or cannot be confirmed) while the hosts
		// were opened: another deploy may hold the app+env by now.
		r.e.wg.Done()
		r.abandon()
		return nil, errs.Wrap(errs.Unavailable, err, "the %s lease of %s was lost while its hosts were opened; nothing was changed: try again", r.rec.Kind, r.t.key())
	}
	err := r.e.store.PutRecord(ctx, r.snapshot())
	if err != nil {
		r.e.wg.Done()
		r.abandon()
		return nil, storeRefusedTo(err, fmt.Sprintf(": the %s could not be recorded", r.rec.Kind))
	}
	r.starting.settle()
	r.mu.Lock()
	r.recorded = true
	r.mu.Unlock()
	r.e.mu.Lock()
	r.e.running[r.t.key()] = r
	if r.e.starting[r.t.key()] == r {
		delete(r.e.starting, r.t.key())
	}
	r.e.mu.Unlock()
	r.logStart()
	r.emit(Event{Kind: EventStarted, Record: r.snapshot()})
	for _, dead := range r.tookOver {
		r.note("%s %s of build %s by %s was left running by a process that stopped (%s); it is marked interrupted, and this %s takes the hosts as they are",
			dead.Kind, dead.ID, dead.Build, dead.Requester, dead.Owner, r.rec.Kind)
	}
	for _, h := range r.hosts {
		switch r.keepOut[h.Name] {
		case PoolMaint:
			r.note("%s was in maint in the load balancer before this %s, not left there by the last run: it stays in maint; set it ready when it should take traffic", h.Name, r.rec.Kind)
		case PoolDrain:
			r.note("%s was in drain in the load balancer before this %s, not left there by the last run: it is drained before its switch and stays in maint; set it ready when it should take traffic", h.Name, r.rec.Kind)
		}
	}
	for _, o := range r.outErr {
		what := "unreachable"
		if o.state != HostUnreachable {
			what = "refused"
		}
		// An SSH error names the host with its address already: the
		// note starts with what became of it, and the error names it.
		if NamesHost(o.host, o.err.Error()) {
			r.note("%s and left out (max_failures allows %d): %v", what, r.allowed, o.err)
		} else if o.state == HostUnreachable {
			r.note("%s is unreachable and left out (max_failures allows %d): %v", o.host, r.allowed, o.err)
		} else {
			r.note("%s was refused and left out (max_failures allows %d): %v", o.host, r.allowed, o.err)
		}
	}
	go func() {
		defer r.e.wg.Done()
		var outcome Outcome
		var err error
		if cause := context.Cause(r.ctx); errors.Is(cause, errCancelled) {
			// Cancelled while its start was recorded, by a cancel told
			// that it would switch no host: it touches none (not even to
			// stop a dead run's leftovers) and ends cancelled.
			outcome, err = r.failedBeforeSwitch(cause)
		} else if err = r.stopLeftovers(); err == nil {
			outcome, err = body()
			if outcome != OutcomeInterrupted && !errors.Is(context.Cause(r.ctx), ErrLeaseLost) {
				r.putBack()
			}
		} else {
			outcome, err = r.failedBeforeSwitch(err)
		}
		// A run whose record was taken over ends as the new owner
		// recorded it, whatever its body made of the hosts' last steps.
		if cause := context.Cause(r.ctx); outcome != OutcomeInterrupted && errors.Is(cause, ErrLeaseLost) {
			outcome, err = r.leaseLost(cause)
		}
		r.finish(outcome, err)
	}()
	return r.snapshot(), nil
}

// deploy is the body of a deploy: deliver, migrate, activate, prune.
func (r *run) deploy(src artifact.Source, info artifact.Info) (Outcome, error) {
	build := r.rec.Build
	var deliver, unchanged, delivered []Host
	for _, h := range r.live() {
		st := r.states[h.Name]
		switch {
		case st.Current == build:
			unchanged = append(unchanged, h)
		case st.has(build):
			r.note("%s already has release %s; skipping the download", h.Name, build)
			delivered = append(delivered, h)
		default:
			deliver = append(deliver, h)
		}
	}
	r.setHosts(unchanged, func(hr *HostResult) { hr.State = HostUnchanged })
	r.setHosts(delivered, func(hr *HostResult) { hr.State = HostDelivered })
	if info.SHA256 == "" && len(deliver) > 0 {
		// Stat allowed it: the app's checksum is optional.
		r.note("no checksum published for build %s: checked for structure only", build)
	}
	if err := r.deliverAll(src, info, deliver); err != nil {
		return r.failedBeforeSwitch(err)
	}
	if len(r.live()) == 0 {
		// Every host failed, within a max_failures as large as the
		// fleet: the deploy did not reach any, it is not partial.
		return r.failedBeforeSwitch(errs.New(errs.Unavailable, "%s; nothing was switched", r.everyHostFailed()))
	}
	if err := r.migrate(); err != nil {
		return r.failedBeforeSwitch(err)
	}
	if err := r.activateAll(); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			return r.leaseLost(err)
		}
		// A lease lost while a host activated surfaces as that host's
		// failure: switching back then is another replica's call.
		if lost := r.leaseGone(); lost != nil {
			return r.leaseLost(lost)
		}
		return r.revertAll(err)
	}
	if len(r.live()) == 0 {
		// Each host failed within max_failures and was switched back on
		// its own: none runs the build, which was reverted everywhere.
		return r.revertAll(errs.New(errs.Unavailable, "%s", r.everyHostFailed()))
	}
	// Where a rollback from here goes is told before the prune, which
	// keeps it: it keeps `current` and `previous` only otherwise, and the
	// target is older when the release the deploy replaced is marked bad,
	// or is not on every host (one missed a deploy). A partial deploy is
	// the live run too: its alert offers a rollback from it, to a release
	// its failed hosts have as well, and so do the refusals given while
	// it prunes (see pruneUndo).
	next, nextErr := r.nextTarget()
	if err := r.settle(next, nextErr); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			return r.leaseLost(err)
		}
		return r.revertAll(err)
	}
	r.pruneAll(next)
	if n := r.failures(); n > 0 {
		return OutcomePartial, errs.New(errs.Unavailable, "%s", r.partialMessage(n))
	}
	return OutcomeSucceeded, nil
}

// checkRollback sets the record's RollbackTo to the release a rollback
// from the deploy would go back to, or its NoRollback when it would find
// none, as the rollback itself picks one (see earlierRelease) from the
// hosts as the deploy left them: the release it replaced may be marked
// bad (a failed first deploy leaves its hosts on it), and then only an
// older one that ran will do. Offered anyway, the Rollback would only be
// refused. A history that cannot be read leaves the offer, naming no
// release, as the rollback would then say what to do. A succeeded
// rollback is checked alike, from the hosts as it left them (see
// rolledBackAs): the release it left is marked bad, and a rollback from
// it goes further back, or nowhere.
func (r *run) checkRollback() { r.recordTarget(r.nextTarget()) }

// nextTarget is the release a rollback from the run would go back to
// (see checkRollback), or earlierRelease's error; "" and nil without a
// live host. The hosts a partial run dropped count too, as they were
// found (a rollback sees them on whatever they run, and the release the
// run failed with is bad there): it names that release only when it is
// on each host it read and marked bad on none, as a rollback to it asks,
// and otherwise says there is none (errs.NotFound). A host left out
// unread has nothing to say.
func (r *run) nextTarget() (string, error) {
	live := r.live()
	if len(live) == 0 {
		return "", nil
	}
	after := r.leftAs
	if r.rec.Kind == KindRollback {
		after = r.rolledBackAs
	}
	var others []hostState
	var names []string // of others
	for _, h := range live[1:] {
		others, names = append(others, after(h)), append(names, h.Name)
	}
	for _, h := range r.hosts {
		if st, inspected := r.states[h.Name]; r.out[h.Name] && inspected {
			others, names = append(others, droppedAs(st, r.rec)), append(names, h.Name)
		}
	}
	to, err := r.earlierRelease(after(live[0]), others, r.rec.Build)
	if err != nil {
		return "", err
	}
	var lack []string
	for i, st := range others {
		if !st.has(to) || st.Bad[to] {
			lack = append(lack, names[i])
		}
	}
	if len(lack) > 0 {
		return "", errs.New(errs.NotFound, "release %s of %s, where a rollback would go, is gone or marked bad on %s", to, r.t.key(), strings.Join(lack, ", "))
	}
	return to, nil
}

// droppedAs is a host a deploy dropped, found as st before it: the build
// is marked bad there when the deploy switched it (a rollback never goes
// to it anyway), and its other releases are as they were.
func droppedAs(st hostState, rec *Record) hostState {
	after := st
	after.Bad = map[string]bool{}
	for rel, bad := range st.Bad {
		after.Bad[rel] = bad
	}
	if rec.Kind == KindDeploy {
		after.Bad[rec.Build] = true
	}
	return after
}

// recordTarget records what nextTarget said in the run's record.
func (r *run) recordTarget(to string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	recordTargetIn(r.rec, to, err)
}

// recordTargetIn records what nextTarget said in rec.
func recordTargetIn(rec *Record, to string, err error) {
	switch {
	case err == nil:
		rec.RollbackTo = to
	case errs.CodeOf(err) == errs.NotFound:
		rec.NoRollback = true
	}
}

// leftAs is h as the succeeded deploy left it: on the build, which is no
// longer marked bad, with `previous` at what it ran, and without what the
// prune removed.
func (r *run) leftAs(h Host) hostState {
	build := r.rec.Build
	st := r.states[h.Name]
	r.mu.Lock()
	pruned := r.pruned[h.Name]
	r.mu.Unlock()
	after := hostState{Current: build, Previous: st.Current, Bad: map[string]bool{}}
	if r.again[h.Name] || st.Current == build {
		after.Previous = st.Previous
	}
	for _, rel := range append([]string{build}, st.Releases...) {
		if !slices.Contains(pruned, rel) && !after.has(rel) {
			after.Releases = append(after.Releases, rel)
		}
	}
	for rel, bad := range st.Bad {
		after.Bad[rel] = bad && rel != build
	}
	return after
}

// settle ends the part of a deploy that a cancel undoes, unless a cancel
// (or a lost lease) came first, which it returns. What follows only
// removes old releases: a cancel then would change nothing, and is
// refused (see cancelBy) rather than accepted and ignored.
// The phase is recorded once settled, so that a run refused behind this
// one on another replica says the same as on this one (see Engine.busy).
// The release a rollback from the deploy goes to (next, or nextErr: see
// nextTarget) is recorded as it settles: each refusal given from then on
// offers the rollback that names it (see pruneUndo).
func (r *run) settle(next string, nextErr error) error {
	r.mu.Lock()
	if err := r.stopErr(); err != nil {
		r.mu.Unlock()
		return err
	}
	r.settled = true
	recordTargetIn(r.rec, next, nextErr)
	r.mu.Unlock()
	r.update(func(rec *Record) { rec.Phase = PhasePruning })
	return nil
}

// cancelBy stops a deploy at its next safe point, or says why it does not:
// its hosts are switched for good already.
func (r *run) cancelBy(by string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.settled {
		return notCancelled(r.t, r.rec)
	}
	r.cancel(fmt.Errorf("%w by %s", errCancelled, by))
	return nil
}

// notCancelled refuses the cancel of deploy rec of t, which has switched
// its hosts for good and only removes old releases.
func notCancelled(t target, rec *Record) error {
	undo, why := pruneUndo(t, rec)
	if undo == "" {
		return errs.New(errs.Conflict, "deploy %s has switched %s to %s already and is only removing old releases: it is not cancelled; no rollback undoes it: %s",
			rec.ID, t.key(), rec.switchedTo(), why)
	}
	return errs.New(errs.Conflict, "deploy %s has switched %s to %s already and is only removing old releases: it is not cancelled; to undo it: %s",
		rec.ID, t.key(), rec.switchedTo(), undo)
}

// switchedTo says what deploy rec, which settled (see run.settle),
// switched its hosts to: its build, and on how many of them when some
// are out of it (see partial), which went back to their earlier release,
// were left on the build failed, or were not reached.
func (rec *Record) switchedTo() string {
	if !rec.partial() {
		return rec.Build
	}
	on := 0
	for _, h := range rec.Hosts {
		if !h.LeftOut && (h.State == HostActive || h.State == HostUnchanged) {
			on++
		}
	}
	return fmt.Sprintf("%s on %d of %d hosts", rec.Build, on, len(rec.Hosts))
}

// partial reports whether a host of rec, a deploy that settled (see
// run.settle), is out of it: failed within max_failures, switched back,
// unreachable or left out, and so maybe on another release than the
// others.
func (rec *Record) partial() bool {
	for _, h := range rec.Hosts {
		switch {
		case h.LeftOut, h.State == HostFailed, h.State == HostReverted, h.State == HostUnreachable:
			return true
		}
	}
	return false
}

// noEarlierRelease says why no rollback is offered from a run whose
// record says a rollback from it finds no good release (NoRollback).
const noEarlierRelease = "no earlier good release is on disk to roll back to (the one before is marked bad, and none older ran); deploy a fixed build instead"

// pruneUndo is the rollback that undoes deploy rec of t, which only
// removes old releases, once it has ended, marked as the bot's
// suggestion; or "" and why there is none. A deploy some of whose hosts
// failed within max_failures leaves them on different releases, and a
// rollback naming no release is refused then (see rollbackTarget): the
// rollback offered names the one recorded as the deploy settled, as the
// partial run's report does, from the deploy's build, so that it undoes
// nothing later. A deploy that found no earlier good release (NoRollback)
// offers none: a rollback from it is refused.
func pruneUndo(t target, rec *Record) (undo, why string) {
	app, env := t.app.Name, t.env.Name
	if rec.NoRollback && !rec.partial() {
		return "", noEarlierRelease
	}
	if !rec.partial() {
		return suggest.Command("rollback " + app + " " + env), ""
	}
	if ValidBuild(rec.RollbackTo) {
		return suggest.Command("rollback " + app + " " + env + " to " + rec.RollbackTo + " from " + rec.Build), ""
	}
	status := suggest.Command("status " + app)
	if rec.NoRollback {
		return "", fmt.Sprintf("some of its hosts failed, and no release is on every host to roll back to; %s shows what each host runs", status)
	}
	return "", fmt.Sprintf("some of its hosts failed and run other releases, and a rollback then names the release to go back to; %s shows what each host runs: rollback %s %s to BUILD", status, app, env)
}

// everyHostFailed says that no host is left in the deploy.
func (r *run) everyHostFailed() string {
	return fmt.Sprintf("every host failed (%d of %d; max_failures allows %d)", r.failures(), len(r.hosts), r.allowed)
}

// partialMessage says how a deploy within max_failures ended: how many
// hosts failed, and those of them it could not switch back, which need
// someone (a switch back that failed, a first release with nothing to go
// back to), as a reverted deploy's message says.
func (r *run) partialMessage(failed int) string {
	msg := fmt.Sprintf("%d of %d hosts failed (max_failures allows %d); the others run %s", failed, len(r.hosts), r.allowed, r.rec.Build)
	r.mu.Lock()
	left, first := slices.Clone(r.backFailed), slices.Clone(r.firstFailed)
	r.mu.Unlock()
	if len(left) > 0 {
		msg += "; " + r.couldNotSwitchBack(left)
	}
	if len(first) > 0 {
		msg += "; " + r.firstReleaseText(first, r.rec.Build, false)
	}
	return msg
}

// firstReleaseText says where a failed or cancelled deploy of build left
// hosts, which it switched (or lost during their switch) and which had no
// earlier release to switch back to. A host lost during its switch, whose
// `current` could not be read, may point at build or at nothing at all:
// it is not said to be on build.
func (r *run) firstReleaseText(names []string, build string, cancelled bool) string {
	hosts := make([]HostResult, 0, len(names))
	r.mu.Lock()
	for _, name := range names {
		hr := HostResult{Host: name}
		if rec := r.rec.Host(name); rec != nil {
			hr = *rec
		}
		hosts = append(hosts, hr)
	}
	r.mu.Unlock()
	return firstReleaseText(hosts, build, cancelled)
}

func firstReleaseText(hosts []HostResult, build string, cancelled bool) string {
	var on, lost []string
	for _, hr := range hosts {
		if hr.Switching != "" && hr.Current != hr.Switching {
			lost = append(lost, hr.Host)
		} else {
			on = append(on, hr.Host)
		}
	}
	if cancelled {
		var parts []string
		switch {
		case len(on) == 1:
			parts = append(parts, fmt.Sprintf("%s stays on %s, its first release", on[0], build))
		case len(on) > 1:
			parts = append(parts, fmt.Sprintf("%s stay on %s, their first release", strings.Join(on, ", "), build))
		}
		switch {
		case len(lost) == 1:
			parts = append(parts, fmt.Sprintf("%s, lost during its switch to its first release, may be on %s or have no release yet", lost[0], build))
		case len(lost) > 1:
			parts = append(parts, fmt.Sprintf("%s, lost during their switch to their first release, may each be on %s or have no release yet", strings.Join(lost, ", "), build))
		}
		return strings.Join(parts, "; ") + ": there is nothing to switch back to"
	}
	var parts []string
	if len(on) > 0 {
		parts = append(parts, fmt.Sprintf("%s, left on %s", strings.Join(on, ", "), build))
	}
	switch {
	case len(lost) == 1:
		parts = append(parts, fmt.Sprintf("%s, lost during its switch: it may be on %s or have no release yet", lost[0], build))
	case len(lost) > 1:
		parts = append(parts, fmt.Sprintf("%s, lost during their switch: each may be on %s or have no release yet", strings.Join(lost, ", "), build))
	}
	// /rollback has nothing to go to there: only a fixed build helps.
	return fmt.Sprintf("no earlier release to switch back to on %s — deploy a fixed build", strings.Join(parts, ", nor on "))
}

// failures counts hosts out of the deploy.
func (r *run) failures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.out)
}

// failedBeforeSwitch ends a deploy in which no host switched. A lost lease
// ends it interrupted, as the replica that took over records it.
func (r *run) failedBeforeSwitch(err error) (Outcome, error) {
	r.mu.Lock()
	for i := range r.rec.Hosts {
		if h := &r.rec.Hosts[i]; h.State != HostFailed && h.State != HostUnreachable {
			h.State = HostUnchanged
		}
	}
	r.mu.Unlock()
	switch {
	case errors.Is(err, ErrLeaseLost):
		return r.leaseLost(err)
	case errors.Is(err, errCancelled):
		if cause := context.Cause(r.ctx); errors.Is(cause, errCancelled) && errors.Is(err, cause) {
			// A cancel that came before any switch (during the delivery,
			// at the migrations prompt) says so, as one after the
			// migrations does: nothing switches back.
			r.note("stopping: %v; nothing was switched", causeText(cause))
			err = fmt.Errorf("%w; nothing was switched", err)
		}
		return OutcomeCancelled, err
	}
	return OutcomeFailed, err
}

// deliverAll puts the release on hosts, Parallel at a time. In push mode
// each wave reads the source once and streams it to its hosts while the
// bot checks the checksum and every tar entry; in pull mode the bot checks
// the artifact first, then the hosts download it and check its checksum.
// Either way a release only appears under its final name once complete.
func (r *run) deliverAll(src artifact.Source, info artifact.Info, hosts []Host) error {
	if len(hosts) == 0 {
		return nil
	}
	var comp artifact.Compression
	if r.t.app.Delivery == "pull" {
		// Hosts check their download against the hash of the bytes the
		// bot verified, published checksum or not, and stop it at their
		// length, whatever the server says (or does not say) of it.
		c, rep, err := r.verifyArtifact(src, info)
		if err != nil {
			return r.stopCause(err)
		}
		comp, info.SHA256, info.Size = c, rep.SHA256, rep.Bytes
	}
	// In push mode each wave reads the source again: later waves must get
	// the bytes the first verified, published checksum or not, or a build
	// republished mid-deploy would run as two different builds under one
	// id.
	var verified string
	par := r.t.env.Parallel
	for start := 0; start < len(hosts); start += par {
		if err := r.stopErr(); err != nil {
			return err
		}
		wave := hosts[start:min(start+par, len(hosts))]
		var err error
		if r.t.app.Delivery == "pull" {
			err = r.pullWave(src, info, comp, wave)
		} else {
			var sum string
			sum, err = r.deliverWave(src, info, verified, wave)
			if verified == "" {
				verified = sum
			}
			if errors.Is(err, errArtifactChanged) {
				// The earlier waves' hosts hold the artifact as it was: a
				// retry would skip them and deliver the new one to the rest.
				r.removeRelease(hosts[:start])
			}
		}
		if err != nil {
			return r.stopCause(err)
		}
	}
	return nil
}

// stopCause returns why the deploy stopped, if it did, else err. A cancel
// (or a lost lease) cuts short whatever the delivery waits for: the
// artifact server's answer, its first bytes, a host. The error that
// follows ("cannot read build 2") is not the news.
func (r *run) stopCause(err error) error {
	if stop := r.stopErr(); stop != nil {
		return stop
	}
	return err
}

// errArtifactChanged marks a push wave that read other bytes than an
// earlier wave of the same deploy verified.
var errArtifactChanged = errors.New("artifact changed during the deploy")

// removeRelease removes the release of the deploy's build from hosts that
// got it in this deploy and are still in it; a host that cannot be
// reached keeps it.
func (r *run) removeRelease(hosts []Host) {
	rel := "releases/" + r.rec.Build
	eachHost(hosts, r.t.env.Parallel, func(_ int, h Host) {
		r.mu.Lock()
		out := r.out[h.Name]
		r.mu.Unlock()
		if !out {
			r.discard(h, rel)
		}
	})
}

// verifyArtifact streams the artifact once through the inspector, for pull
// mode: hosts only download a build the bot has checked. It returns the
// artifact's compression and what the inspector found: its checksum, its
// length and how many tar entries it has.
func (r *run) verifyArtifact(src artifact.Source, info artifact.Info) (artifact.Compression, artifact.Report, error) {
	build := r.rec.Build
	rc, err := src.Open(r.ctx, r.t.app.Name, build)
	if err != nil {
		return "", artifact.Report{}, r.openFailed(src, err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 256<<10)
	comp, err := r.detect(br)
	if err != nil {
		return "", artifact.Report{}, err
	}
	insp := artifact.NewInspector(info.SHA256)
	insp.LimitUnpacked(r.t.app.Artifact.MaxUnpackedBytes())
	insp.LimitEntries(r.t.app.Artifact.MaxEntries)
	copyErr := copyArtifact(insp, br)
	insp.Close()
	rep, verr := insp.Result()
	if err := r.streamVerdict("", copyErr, verr); err != nil {
		// A cancel cuts the stream short: report the cancel.
		if stop := r.stopErr(); stop != nil {
			return "", artifact.Report{}, stop
		}
		return "", artifact.Report{}, err
	}
	return comp, rep, nil
}

// shortOfInodes refuses the deploy when a host it delivers to has fewer
// free inodes than the build has entries, plus a margin: a release of
// many small files runs out of them before it runs out of space. The
// count of entries costs a read of the artifact, made only when a host's
// free inodes are too few for the largest build the app takes.
func (r *run) shortOfInodes(src artifact.Source, info artifact.Info) error {
	if r.t.env.MinFreeSpaceBytes() <= 0 || len(inodeHosts(r.t, r.live(), r.states, r.rec.Build, true)) == 0 {
		return nil
	}
	_, rep, err := r.verifyArtifact(src, info)
	if err != nil {
		// The delivery reads it again, and says what is wrong with it.
		r.log.Warn("count the entries of the build", "err", err)
		return nil
	}
	return shortOfInodes(r.t, r.live(), r.states, r.rec.Build, rep.Entries)
}

// detect tells the compression of the artifact br reads from its first
// bytes, which it leaves in br.
func (r *run) detect(br *bufio.Reader) (artifact.Compression, error) {
	head, err := br.Peek(6) // a short artifact fails Detect below
	if err != nil && err != io.EOF {
		return "", r.readFailed(&sourceError{err})
	}
	comp, err := artifact.Detect(head)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "build %s of %s is not a gzip or zstd tarball; nothing was changed", r.rec.Build, r.t.app.Name)
	}
	return comp, nil
}

// sourceError is a failure to read the artifact (the network, the artifact
// store), which says nothing of the build.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// copyArtifact copies the artifact src to dst. An error reading src comes
// back as a *sourceError; any other is dst refusing more (the inspector
// found the archive bad, every host is gone).
func copyArtifact(dst io.Writer, src io.Reader) error {
	w := &errWriter{w: dst}
	_, err := io.Copy(w, src)
	if err != nil && err != w.err {
		return &sourceError{err}
	}
	return err
}

// errWriter keeps the error its last write failed with.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// streamVerdict returns why streaming the artifact failed, as people are
// to read it, or nil when it did not (or when every host stopped reading
// and their own errors say why): copyErr is what ended the copy early, if
// anything, verr the inspector's verdict, and verified the SHA-256 an
// earlier wave verified, if any. A stream cut short, by the hosts or by
// the source, leaves the inspector judging a part of the build: its
// checksum and its end say nothing of the build, but an unsafe entry
// read until then does.
func (r *run) streamVerdict(verified string, copyErr, verr error) error {
	build, app := r.rec.Build, r.t.app.Name
	var unsafe *artifact.UnsafeEntryError
	var src *sourceError
	cut := errors.Is(copyErr, errAllGone) || errors.As(copyErr, &src)
	if cut && verr != nil && !errors.As(verr, &unsafe) {
		verr = nil
	}
	var changed *artifact.ChecksumError
	switch {
	case verr == nil && src != nil:
		return r.readFailed(src)
	case verified != "" && errors.As(verr, &changed):
		return errs.Wrap(errs.Invalid, fmt.Errorf("%w: %w", errArtifactChanged, verr),
			"the artifact of build %s changed during the deploy: %v; nothing was switched and no host keeps it", build, verr)
	case verr != nil:
		return errs.Wrap(errs.Invalid, verr, "build %s of %s was refused: %v; nothing was changed", build, app, verr)
	case copyErr != nil && !errors.Is(copyErr, errAllGone):
		return errs.Wrap(errs.Unavailable, copyErr, "streaming build %s of %s to its hosts failed: %v; nothing was changed", build, app, copyErr)
	}
	return nil
}

// openFailed is the error of a deploy that could not open its artifact,
// which its check found a moment before: a 403 now (a signed URL that
// expired in between) is no outage that retrying mends, and people are
// told why either way.
func (r *run) openFailed(src artifact.Source, err error) error {
	refusal := src.ReadRefusal(r.t.app.Name, r.rec.Build, err)
	refusal.Msg += "; nothing was changed"
	return refusal
}

// readFailed is the error of a deploy that could not read its artifact.
func (r *run) readFailed(err *sourceError) error {
	return errs.Wrap(errs.Unavailable, err, "reading build %s of %s failed: %v; nothing was changed, and retrying may help", r.rec.Build, r.t.app.Name, err)
}

// pullWave has each host of wave download, check and unpack the artifact.
func (r *run) pullWave(src artifact.Source, info artifact.Info, comp artifact.Compression, wave []Host) error {
	build := r.rec.Build
	tmp := "releases/.tmp-" + build + "-" + nonce()
	url := src.Location(r.t.app.Name, build)
	errsOf := make([]error, len(wave))
	var wg sync.WaitGroup
	r.setHosts(wave, func(hr *HostResult) { hr.State = HostDelivering })
	for i, h := range wave {
		wg.Go(func() {
			// The host checks its download itself, so the release is
			// installed in the same session: one round trip fewer.
			script := pullScript(r.t.app.Path, tmp, url, info.SHA256, string(comp), info.Size, src.IdleTimeout) + finalizeScript(r.t.app.Path, tmp, build, r.t.app.Shared)
			_, errsOf[i] = r.step(r.ctx, h, StepDeliver, Command{Script: script})
		})
	}
	wg.Wait()
	return r.settleWave(wave, tmp, errsOf)
}

// settleWave records each host's delivery: delivered, or dropped (its
// temporary directory removed); too many failures stop the deploy.
func (r *run) settleWave(wave []Host, tmp string, errsOf []error) error {
	var over bool
	var first error
	// A cancelled deploy cuts deliveries short: those hosts did not fail.
	stopped := r.stopErr()
	var delivered []Host
	for i, h := range wave {
		if errsOf[i] == nil {
			delivered = append(delivered, h)
		}
	}
	r.setHosts(delivered, func(hr *HostResult) { hr.State = HostDelivered })
	for i, h := range wave {
		err := errsOf[i]
		if err == nil {
			continue
		}
		if full := r.discardFailed(h, tmp); full != "" && stopped == nil {
			err = fmt.Errorf("%w; %s", err, full)
		}
		if stopped != nil {
			continue
		}
		if first == nil {
			first = err
		}
		if r.drop(h, HostFailed, err) {
			over = true
		}
	}
	if err := r.stopErr(); err != nil {
		return err
	}
	if over {
		return errs.Wrap(errs.Unavailable, first, "delivery failed on %d of %d hosts, more than max_failures allows (%d); nothing was switched: %v", r.failures(), len(r.hosts), r.allowed, first)
	}
	return nil
}

// discard removes a partial release from a host; a host that cannot be
// reached keeps it, and the next prune removes it.
func (r *run) discard(h Host, tmp string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), r.t.env.StepTimeout.D())
	defer cancel()
	if _, err := r.sessions[h.Name].Run(ctx, Command{Script: discardScript(r.t.app.Path, tmp)}); err != nil {
		r.log.Warn("discard partial release", "host", h.Name, "err", err)
	}
}

// discardFailed removes the partial release of a failed delivery, as
// discard does, and says whether the host's disk was full when it
// failed: tar's own words for a short write ("Wrote only 57856 of 65536
// bytes") and curl's ("Failure writing output to destination") do not
// name the cause, and after the removal the space is free again. It
// returns "" when the disk had room or could not be read.
func (r *run) discardFailed(h Host, tmp string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), r.t.env.StepTimeout.D())
	defer cancel()
	out, err := r.sessions[h.Name].Run(ctx, Command{Script: diskScript(r.t.app.Path) + discardScript(r.t.app.Path, tmp)})
	if err != nil {
		r.log.Warn("discard partial release", "host", h.Name, "err", err)
	}
	return diskFull(out, r.t.app.Path)
}

// deliverWave streams the artifact to the hosts of wave while the bot
// checks it, against verified, the SHA-256 an earlier wave verified, when
// there is one, else against the published checksum, if any. It returns
// the SHA-256 of the artifact once a wave read all of it and found it good,
// else "".
func (r *run) deliverWave(source artifact.Source, info artifact.Info, verified string, wave []Host) (string, error) {
	ctx := r.ctx
	build := r.rec.Build
	// Once every host has stopped, reading on is of no use, and a source
	// that stalls would keep the deploy (and its lease) until its idle
	// timeout: the last host to go ends the read.
	srcCtx, stopSource := context.WithCancel(ctx)
	defer stopSource()
	src, err := source.Open(srcCtx, r.t.app.Name, build)
	if err != nil {
		return "", r.openFailed(source, err)
	}
	defer src.Close()
	br := bufio.NewReaderSize(src, 256<<10)
	comp, err := r.detect(br)
	if err != nil {
		return "", err
	}

	tmp := "releases/.tmp-" + build + "-" + nonce()
	sent := comp
	if r.recompress(comp, wave) {
		sent = artifact.Zstd
	}
	want := info.SHA256
	if verified != "" {
		want = verified
	}
	insp := artifact.NewInspector(want)
	insp.LimitUnpacked(r.t.app.Artifact.MaxUnpackedBytes())
	insp.LimitEntries(r.t.app.Artifact.MaxEntries)
	fan, zw, err := deliveryStream(insp, sent != comp)
	if err != nil {
		insp.Close()
		return "", err
	}
	var wg sync.WaitGroup
	hostErr := make([]error, len(wave))
	// Each host installs the release in its delivery session, once its
	// stream is complete; the stream's last bytes only go out once the
	// bot has verified all of it (see fanout).
	finalize := finalizeScript(r.t.app.Path, tmp, build, r.t.app.Shared)
	r.setHosts(wave, func(hr *HostResult) { hr.State = HostDelivering })
	fan.stuck = stuckLimit(r.t.env.StepTimeout.D())
	var left atomic.Int32
	left.Store(int32(len(wave)))
	for i, h := range wave {
		pr := fan.addPaced(paceWindowFor(roundTrip(r.sessions[h.Name])))
		hctx, stop := context.WithCancelCause(ctx)
		pr.stop = func() {
			r.note("%s stopped reading the stream for %s while the other hosts of its wave waited for it; they go on without it", h.Name, fan.stuck)
			stop(&stuckError{after: fan.stuck})
		}
		script := unpackScript(r.t.app.Path, tmp, string(sent), r.states[h.Name].ZstdSync) + finalize
		cmd := Command{Script: script, Stdin: pr, Stdout: &unpackReport{r: pr}}
		wg.Go(func() {
			defer stop(nil)
			hostErr[i] = r.deliverTo(hctx, h, cmd, pr)
			if left.Add(-1) == 0 {
				stopSource()
			}
		})
	}
	var copyErr error
	if sent == comp {
		copyErr = streamAsIs(br, insp, fan)
	} else {
		copyErr = streamRecompressed(br, insp, zw, fan)
	}
	var srcErr *sourceError
	if errors.As(copyErr, &srcErr) && fan.err() != nil {
		// Every host had stopped by the time the read failed: the last
		// of them ended it, and what the hosts said is the news.
		copyErr = errAllGone
	}
	insp.Close()
	rep, verr := insp.Result()
	// Only a verified stream ends cleanly, handing the hosts its last
	// bytes. Ended with an error, a host's script is killed before its
	// input ends (see Command.Stdin), and without those bytes its
	// decompressor could not have finished anyway.
	end := verr
	if end == nil {
		end = copyErr
	}
	if end == nil {
		end = r.stopErr()
	}
	fan.close(end)
	wg.Wait()

	if err := r.streamVerdict(verified, copyErr, verr); err != nil {
		// A bad or unreadable artifact fails every host alike: nothing of
		// it stays.
		for _, h := range wave {
			r.discard(h, tmp)
		}
		// A cancel cuts the stream short, which the inspector sees as a
		// bad artifact: report the cancel.
		if err := r.stopErr(); err != nil {
			return "", err
		}
		return "", err
	}
	var sum string
	if copyErr == nil {
		// Read to its end and found good: what later waves must get.
		sum = rep.SHA256
	}
	return sum, r.settleWave(wave, tmp, hostErr)
}

// deliverTo runs host h's delivery step, cmd, which reads its stream from
// pr. A host the fan-out dropped as stuck (its step cancelled) fails with
// why.
func (r *run) deliverTo(ctx context.Context, h Host, cmd Command, pr *fanReader) error {
	_, err := r.step(ctx, h, StepDeliver, cmd)
	// Unblock the fan-out if the host stopped reading early.
	pr.Close()
	if stuck := pr.stuckErr(); stuck != nil && err != nil {
		err = stepFailed(StepDeliver, h.Name, stuck)
	}
	return err
}

// deliveryStream returns the fan-out that hands a wave's hosts the stream
// insp inspects and, when the wave gets it recompressed, the zstd writer
// that feeds the fan-out. Hosts are paced by how far the stream written
// so far unpacks, at least: as far as insp has read for the artifact as
// it is, and only as far as the encoder has written out when
// recompressed, which lags insp by the block the encoder holds.
func deliveryStream(insp *artifact.Inspector, recompress bool) (*fanout, *artifact.ZstdWriter, error) {
	if !recompress {
		return newFanout(insp.Position), nil, nil
	}
	fan := newFanout(nil)
	zw, err := artifact.NewZstdWriter(fan)
	if err != nil {
		return nil, nil, err
	}
	fan.position = zw.Encoded
	return fan, zw, nil
}

// recompress reports whether a wave gets a gzip artifact as zstd: the app
// allows it and every host of the wave can unpack zstd. zstd unpacks with
// a fraction of gzip's CPU, and the bot decompresses the artifact anyway to
// inspect it, so one recompression saves work on every host.
func (r *run) recompress(comp artifact.Compression, wave []Host) bool {
	if comp != artifact.Gzip || r.t.app.Recompress == "never" {
		return false
	}
	for _, h := range wave {
		if !r.states[h.Name].Zstd {
			return false
		}
	}
	return true
}

// streamRecompressed streams the artifact into insp, which hashes and
// inspects it and hands the decompressed archive to zw, which feeds the
// hosts through fan. The copy stops when the archive proves bad or every
// host has stopped reading, as it does without recompression.
func streamRecompressed(src io.Reader, insp *artifact.Inspector, zw *artifact.ZstdWriter, fan *fanout) error {
	insp.TarTo(zw)
	check := func() error {
		if err := insp.Err(); err != nil {
			return err
		}
		return fan.err()
	}
	copyErr := copyArtifact(checkedWriter{w: insp, check: check}, src)
	// The archive reader has handed over every byte once insp is closed;
	// only then does the last zstd frame go out, and only of a good
	// archive: the encoder holds the header that was refused.
	if insp.Close() == nil {
		if err := zw.Close(); err != nil && copyErr == nil && fan.err() == nil {
			copyErr = err
		}
	}
	if copyErr == nil {
		copyErr = fan.err()
	}
	return copyErr
}

// streamAsIs copies the artifact from src to the hosts of fan as it is,
// inspected by insp. The inspector checks each chunk before the fan-out
// gets it, all of it but the end the fan-out holds back (see tailBytes):
// a bad entry stops the stream before any host gets a byte of it.
func streamAsIs(src io.Reader, insp *artifact.Inspector, fan *fanout) error {
	return copyArtifact(io.MultiWriter(checkedWriter{w: insp, check: insp.Err}, fan), src)
}

// checkedWriter writes to w and then asks check whether to go on.
type checkedWriter struct {
	w     io.Writer
	check func() error
}

func (c checkedWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		return n, err
	}
	if err := c.check(); err != nil {
		return 0, err
	}
	return n, nil
}

// migrate lists pending migrations on the first host and, by the env's
// policy, refuses them (never), waits for the requester (ask) or runs them
// there (auto, after the backup command) — before any host switches.
func (r *run) migrate() error {
	m := r.t.app.Migrations
	if m.List == "" {
		return nil
	}
	live := r.live()
	if len(live) == 0 {
		return errs.New(errs.Unavailable, "no host is left to run migrations on")
	}
	h := live[0]
	dir := r.t.app.Path + "/releases/" + r.rec.Build
	env := r.cmdEnv(h, r.rec.Build, r.rec.Previous)
	out, err := r.step(r.ctx, h, StepPending, Command{Script: inDir(dir, env, m.List)})
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "%s; nothing was switched", failedOn("listing migrations", h.Name, err))
	}
	pending := migrationNames(out, r.e.secrets)
	r.update(func(rec *Record) {
		rec.Migrations = pending
		if len(pending) == 0 {
			rec.MigrationState = MigrationsNone
		}
	})
	r.emit(Event{Kind: EventMigrations, Host: h.Name, Migrations: pending})
	if len(pending) == 0 || m.Run == "" {
		return nil
	}
	if len(r.unstopped) > 0 {
		return unstoppedMigrations(r.unstopped)
	}
	switch r.t.env.Migrate {
	case "never":
		return errs.New(errs.Forbidden, "%s has pending migrations (%s) and its policy is migrate: never; nothing was switched", r.t.key(), strings.Join(pending, ", "))
	case "ask":
		if err := r.waitConfirm(pending); err != nil {
			return err
		}
	}
	if err := r.fence(r.ctx); err != nil {
		return err
	}
	// Once started, the backup and the migrations run to their end: a
	// cancel killing a migration half-way would leave the schema neither
	// old nor new. It takes effect at the next safe point, before any
	// host switches.
	ctx := context.WithoutCancel(r.ctx)
	if b := r.t.env.Backup; b != "" {
		// A dump is the whole database: what the backup writes is its
		// user's alone, whatever the umask of the host's login (022
		// commonly, a dump every account there could read).
		if _, err := r.step(ctx, h, StepBackup, Command{Script: inDir(r.t.app.Path, env, "umask 077\n"+b), Timeout: r.t.env.BackupTimeout.D()}); err != nil {
			return errs.Wrap(errs.Unavailable, err, "%s; nothing was migrated or switched", failedOn("the backup before migrations", h.Name, err))
		}
		if err := r.stopErr(); err != nil {
			return err
		}
	}
	// Recorded before the migrate command starts and once it ends (two
	// writes only a deploy that migrates makes): a deploy interrupted
	// meanwhile says that the schema may have changed.
	// The host goes with it: a next deploy that cannot reach a host
	// waits for no other to finish migrations it never ran.
	var was MigrationState
	var wasOn string
	r.update(func(rec *Record) {
		was, rec.MigrationState = rec.MigrationState, MigrationsRunning
		wasOn, rec.MigrationHost = rec.MigrationHost, h.Name
	})
	if err := r.refusedErr(); err != nil {
		// Refused: recovery on another replica took the run over, and
		// its record says the migrations did not start. They do not.
		r.mu.Lock()
		r.rec.MigrationState, r.rec.MigrationHost = was, wasOn
		r.mu.Unlock()
		return err
	}
	r.mu.Lock()
	unsaid := r.behind
	if unsaid != nil {
		r.rec.MigrationState, r.rec.MigrationHost = was, wasOn
	}
	r.mu.Unlock()
	if unsaid != nil {
		// The store keeps a record saying they did not start: a bot
		// that died while they ran would leave status telling whoever
		// rolls back that the schema is as before. They do not start.
		return errs.Wrap(errs.Unavailable, unsaid, "the deploy's record could not be updated to say that its migrations run (%v); nothing was migrated or switched: deploy again once the state store answers", unsaid)
	}
	if _, err := r.step(ctx, h, StepMigrate, Command{Script: inDir(dir, env, m.Run), Lingering: r.lingering(h, []action{{step: StepMigrate}})}); err != nil {
		if errors.Is(err, ErrUnreachable) {
			// The connection ended, not the migrate command: it may
			// still run there (a host that hung comes back running
			// it), so its state stays running, and nothing is listed
			// again on a host that does not answer.
			return errs.Wrap(errs.Unavailable, err, "%s; nothing was switched; they may still be running there, and some, all or none of %s may be applied: check the database before deploying again (the next deploy or rollback of %s stops what is left of them there first)", lostMigrating(h.Name, err), strings.Join(pending, ", "), r.t.key())
		}
		r.update(func(rec *Record) { rec.MigrationState = MigrationsFailed })
		after, listErr := r.afterFailedMigrations(ctx, h, inDir(dir, env, m.List), pending)
		return errs.Wrap(errs.Unavailable, err, "%s; nothing was switched; %s", failedOn("migrations", h.Name, err, listErr), after)
	}
	r.update(func(rec *Record) { rec.MigrationState = MigrationsDone })
	r.migrated = pending
	return nil
}

// unstoppedMigrations refuses a deploy's migrations while those of dead
// runs may still run on the hosts of left, which it could not reach to
// stop them. It names every such host (the first maxUnstoppedNamed, and
// how many more): a record that does not say which host migrated holds
// the deploy back on each of its hosts it cannot reach, and naming one
// only would have whoever brings it back refused again for the next.
func unstoppedMigrations(left []LostHost) error {
	var runs, hosts []string
	for _, u := range left {
		if run := string(u.Run.Kind) + " " + u.Run.ID; !slices.Contains(runs, run) {
			runs = append(runs, run)
		}
		if !slices.Contains(hosts, u.Host) {
			hosts = append(hosts, u.Host)
		}
	}
	on, them, answer := hosts[0], "it is", "answers"
	if len(hosts) > 1 {
		them, answer = "they are", "answer"
		on = strings.Join(hosts[:min(len(hosts), maxUnstoppedNamed)], ", ")
		if n := len(hosts) - maxUnstoppedNamed; n > 0 {
			on += fmt.Sprintf(" and %d more", n)
		}
	}
	return errs.New(errs.Unavailable, "the migrations of %s may still be running on %s, which this deploy could not reach to stop them: migrations run now would run beside them; nothing was migrated or switched: deploy again once %s %s, or once %s out of the env's hosts", strings.Join(runs, " and "), on, on, answer, them)
}

// maxUnstoppedNamed bounds the hosts a refusal of migrations names.
const maxUnstoppedNamed = 5

// stepCause is what a failed step's error says of its cause (the exit
// status and the end of the standard error, its secrets hidden by the
// session), without the step and host the message quoting it names
// already. The record keeps the message, not the cause: without it,
// "migrations failed on web1" leaves whoever checks the database to log
// in and run them again to learn why. The step's error is looked for
// through every wrap: a wrap added on the way (a prefix, a join) must
// not put the step and host back into the cause.
func stepCause(err error) string {
	if se, ok := errors.AsType[*stepError](err); ok {
		return se.cause()
	}
	return err.Error()
}

// failedOn says that what failed on host for err, a failed step's error:
// "migrations failed on web1 (exit status 1: …)", naming the host as
// namedCause does. later are errors of the host's later steps that the
// message quotes by their cause alone (see stepCause): when err gave no
// address and one of them did, the host is named by that one's naming
// ("migrations failed on web1 (10.0.0.5:22) (exit status 1: …); … could
// not be listed again (host unreachable: …)"), else the message dropped
// the address, which whoever has to reach the host needs.
func failedOn(what, host string, err error, later ...error) string {
	lead, cause := namedCause(host, err)
	for _, l := range later {
		if lead != host || l == nil {
			continue
		}
		lead, _ = hostLead(host, l)
	}
	return fmt.Sprintf("%s failed on %s (%s)", what, lead, cause)
}

// lostMigrating says that host was lost, for err, while its migrations
// ran, naming the host as namedCause does.
func lostMigrating(host string, err error) string {
	lead, cause := namedCause(host, err)
	return fmt.Sprintf("lost %s while its migrations ran (%s)", lead, cause)
}

// namedCause is how err, an error of host (a failed step's, an SSH
// error), names the host (see hostLead), and its cause without that
// naming (see stepCause), for a message that names the host itself: by
// the cause alone it dropped the address the SSH error gave ("lost web1
// while its migrations ran (host unreachable: …)"), which whoever has
// to reach the host needs.
func namedCause(host string, err error) (lead, cause string) {
	lead, rest := hostLead(host, err)
	if se, ok := errors.AsType[*stepError](err); ok && se.host == host {
		return lead, se.cause()
	}
	return lead, rest.Error()
}

// afterFailedMigrations says what the database holds after the migrations
// failed part way: it lists the pending migrations again (list, on h) and
// names those that ran and those still pending. The database is not as
// before, so the deploy's failure must not read "nothing changed". err
// is the listing's error, nil when it ran: what it says is quoted by its
// cause alone, and the message naming the host takes the address it gave
// (see failedOn).
func (r *run) afterFailedMigrations(ctx context.Context, h Host, list string, pending []string) (said string, err error) {
	const check = "check the database, which a migration that failed half-way may have left partly changed, before deploying again"
	out, err := r.step(ctx, h, StepPending, Command{Script: list})
	if err != nil {
		return "the pending migrations could not be listed again (" + stepCause(err) + "): " + check, err
	}
	still := map[string]bool{}
	left := migrationNames(out, r.e.secrets)
	for _, m := range left {
		still[m] = true
	}
	var ran []string
	for _, m := range pending {
		if !still[m] {
			ran = append(ran, m)
		}
	}
	var parts []string
	if len(ran) > 0 {
		parts = append(parts, "ran: "+strings.Join(ran, ", "))
	} else {
		parts = append(parts, "none ran to its end")
	}
	if len(left) > 0 {
		parts = append(parts, "still pending: "+strings.Join(left, ", "))
	}
	return strings.Join(parts, "; ") + "; " + check, nil
}

// migrationNames are the lines of a migrations list command's output. They
// are shown as they are, but for the config's secret values and the
// credentials of a URL in them (see redact.Secrets): a list command may
// print a warning naming its database, or the password it was given.
func migrationNames(out []byte, secrets *redact.Secrets) []string {
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			names = append(names, secrets.Text(line))
		}
	}
	return names
}

// confirmation is a person's answer to a migrations prompt.
type confirmation struct {
	ok bool
	by string
}

// signal is c as a signal carries it: "ok BY" or "abort BY".
func (c confirmation) signal() string {
	if c.ok {
		return "ok " + c.by
	}
	return "abort " + c.by
}

// parseConfirmation is the confirmation the signal v carries.
func parseConfirmation(v string) confirmation {
	answer, by, _ := strings.Cut(v, " ")
	return confirmation{ok: answer == "ok", by: by}
}

// String says who answered what, for the refusal of a later answer.
func (c confirmation) String() string {
	if c.ok {
		return c.by + " confirmed the migrations"
	}
	return c.by + " aborted the deploy"
}

// waitConfirm pauses the deploy until Confirm answers it, the deploy is
// cancelled, or the env's confirm_timeout passes (which aborts safely).
func (r *run) waitConfirm(pending []string) error {
	timeout := r.t.env.ConfirmTimeout.D()
	ch := make(chan confirmation, 1)
	deadline := r.e.now().Add(timeout)
	r.mu.Lock()
	r.confirm, r.deadline, r.answered = ch, deadline, nil
	r.mu.Unlock()
	r.update(func(rec *Record) { rec.Awaiting = deadline })
	defer r.endPrompt()
	r.emit(Event{Kind: EventConfirm, Migrations: pending, Deadline: deadline,
		Text: fmt.Sprintf("%d pending migration(s) wait for confirmation: %s, or %s", len(pending), suggest.Command("deploy confirm "+r.rec.ID), suggest.Command("deploy abort "+r.rec.ID))})
	// The wait ends at the deadline the prompt shows, however long the
	// record's write and the prompt's delivery took: an answer after it
	// is refused (see answer), and the deploy aborts.
	timer := time.NewTimer(max(deadline.Sub(r.e.now()), 0))
	defer timer.Stop()
	select {
	case c := <-ch:
		if !c.ok {
			return fmt.Errorf("%w: migrations refused by %s; nothing was migrated or switched", errCancelled, c.by)
		}
		r.note("migrations confirmed by %s", c.by)
		return nil
	case <-r.ctx.Done():
		return context.Cause(r.ctx)
	case <-r.e.drained:
		// Waiting on would outlast the stop's grace period, and a killed
		// deploy is reported interrupted: abort here, where nothing has
		// changed, and say so.
		return fmt.Errorf("%w: the bot is stopping; the deploy was aborted at its migrations prompt and nothing was migrated or switched: deploy again once it is back", errCancelled)
	case <-timer.C:
		return errs.New(errs.Unavailable, "nobody confirmed the migrations within %s; the deploy was aborted and nothing was migrated or switched", timeout)
	}
}

// endPrompt ends r's wait for an answer: none is handed to it any more,
// and the record stops saying it waits. Only then is an answer still left
// in the store dropped (this replica's own, see Confirm, or one given too
// late): dropped before, a late answer through another replica would find
// nothing in its way and be told it was passed on.
func (r *run) endPrompt() {
	r.mu.Lock()
	r.confirm = nil
	r.mu.Unlock()
	r.update(func(rec *Record) { rec.Awaiting = time.Time{} })
	if r.e.signals == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), signalPoll)
	defer cancel()
	if _, _, err := r.e.signals.TakeSignal(ctx, r.rec.ID, signalConfirm); err != nil {
		r.log.Debug("drop the answer left for a prompt", "err", err)
	}
}

// answerable refuses an answer to r's prompt before it is given: r asks
// nothing, or was answered already.
func (r *run) answerable() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.answered != nil:
		return errAnswered(r.rec.ID, *r.answered)
	case r.confirm == nil:
		return errs.New(errs.Conflict, "deploy %s is not waiting for a confirmation", r.rec.ID)
	case !r.e.now().Before(r.deadline):
		return errTooLate(r.rec.ID, r.deadline)
	}
	return nil
}

// answer hands c to r's prompt if it is the first answer, and returns the
// first answer: c, or the one before it. asked is false if r waits for no
// answer and got none, or its deadline has passed.
func (r *run) answer(c confirmation) (first confirmation, asked bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.answered != nil:
		return *r.answered, true
	case r.confirm == nil, !r.e.now().Before(r.deadline):
		return confirmation{}, false
	}
	r.answered = &c
	r.confirm <- c // buffered for one, and only the first answer is sent
	return c, true
}

// Confirm answers the migrations prompt of the running deploy id: ok runs
// them, !ok aborts the deploy. The first answer counts: Confirm fails when
// that deploy is not waiting, was answered already, or has an answer given
// through another replica waiting in Signals for it to take.
func (e *Engine) Confirm(ctx context.Context, id, by string, ok bool) error {
	e.mu.Lock()
	var r *run
	for _, x := range e.running {
		if x.rec.ID == id {
			r = x
		}
	}
	e.mu.Unlock()
	if r == nil {
		return errs.New(errs.NotFound, "no running deploy %s", id)
	}
	if err := r.answerable(); err != nil {
		return err
	}
	c := confirmation{ok: ok, by: by}
	if e.signals != nil {
		// An answer given through another replica waits in the store
		// until r takes it. Leaving this one there first, as that replica
		// does, lets only one of the two count, and keeps one given there
		// after this from being told it was passed on.
		pending, left, err := e.signals.SignalFirst(ctx, id, signalConfirm, c.signal(), signalTTL)
		switch {
		case err != nil:
			return StoreRefused(err)
		case !left:
			return errAnswerWaiting(id, pending)
		}
	}
	// Refused here, this answer stays in the store, unheard, until
	// endPrompt drops it or it expires.
	switch first, asked := r.answer(c); {
	case !asked:
		return errs.New(errs.Conflict, "deploy %s is not waiting for a confirmation", id)
	case first != c:
		return errAnswered(id, first)
	}
	return nil // handed over, here or by watchSignals taking it from the store
}

// errAnswered refuses an answer to the prompt of deploy id, which first
// got first.
func errAnswered(id string, first confirmation) error {
	return errs.New(errs.Conflict, "deploy %s was already answered: %s; the first answer counts, and yours changed nothing", id, first)
}

// errTooLate refuses an answer to the prompt of deploy id given once its
// deadline had passed: the deploy aborts, as nobody answered in time.
func errTooLate(id string, deadline time.Time) error {
	return errs.New(errs.Conflict, "deploy %s stopped waiting for a confirmation at %s: it aborts, nothing migrated or switched, and your answer changed nothing; deploy again to be asked again", id, deadline.Format("15:04:05 MST"))
}

// errAnswerWaiting refuses an answer to the prompt of deploy id while an
// earlier one, pending (as a signal carries it), waits for the run to
// take it.
func errAnswerWaiting(id, pending string) error {
	return errs.New(errs.Conflict, "deploy %s already has an answer waiting: %s; the first answer counts, and yours changed nothing", id, parseConfirmation(pending))
}

// Requester returns who started the running deploy id.
func (e *Engine) Requester(id string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.running {
		if r.rec.ID == id {
			return r.rec.Requester, true
		}
	}
	return "", false
}

// activateAll switches hosts in batches: the canary batch first (when the
// env has one), then batch_size at a time, each batch only after the hosts
// switched so far still pass their health check. A failed host is switched
// back on its own while failures stay within max_failures; beyond that, or
// when the canary fails, the deploy stops and every switched host goes back.
func (r *run) activateAll() error {
	var todo []Host
	for _, h := range r.live() {
		if r.states[h.Name].Current != r.rec.Build || r.again[h.Name] {
			todo = append(todo, h)
		}
	}
	var batches [][]Host
	rest := todo
	// A canary batch only when more hosts switch than it takes (as the
	// dry run says): otherwise the first batch_size hosts are an ordinary
	// batch, whose failures count against max_failures.
	hasCanary := false
	if c := r.t.env.Canary; c > 0 && len(rest) > c {
		batches, rest = append(batches, rest[:c]), rest[c:]
		hasCanary = true
	}
	for size := r.t.env.BatchSize; len(rest) > 0; rest = rest[min(size, len(rest)):] {
		batches = append(batches, rest[:min(size, len(rest))])
	}
	var switched []Host
	for i, batch := range batches {
		if err := r.fence(r.ctx); err != nil {
			return err
		}
		if i > 0 {
			if err := r.healthGate(switched, hasCanary, batches[0]); err != nil {
				return err
			}
			// The gate takes a while on a large fleet (a check per
			// host, parallel at a time): a cancel meanwhile stops the
			// next batch.
			if err := r.fence(r.ctx); err != nil {
				return err
			}
		}
		canary := i == 0 && hasCanary
		failed := make([]error, len(batch))
		var wg sync.WaitGroup
		for j, h := range batch {
			previous := r.states[h.Name].Current
			if r.again[h.Name] {
				// Restarted where it is: its `previous` stays.
				previous = r.states[h.Name].Previous
			}
			wg.Go(func() { failed[j] = r.activate(h, r.rec.Build, previous) })
		}
		wg.Wait()
		for j, h := range batch {
			err := failed[j]
			if err == nil {
				switched = append(switched, h)
				continue
			}
			if errors.Is(err, ErrLeaseLost) {
				return err // not switched: see beginSwitch
			}
			if canary {
				return errs.Wrap(errs.Unavailable, err, "the canary %s failed: %s", h.Name, failureText(err))
			}
			if r.failures()+1 > r.allowed {
				r.mu.Lock()
				r.out[h.Name] = true
				r.mu.Unlock()
				return err
			}
			if lost := r.leaseGone(); lost != nil {
				r.drop(h, HostFailed, err)
				return lost
			}
			if lost := r.revertOne(h, err); lost != nil {
				return lost
			}
		}
		if canary {
			r.note("canary %s healthy on %s; continuing with the other hosts", hostNames(batch), r.rec.Build)
		}
	}
	// A cancel that arrived during the last batch still counts, and so
	// does a lease lost meanwhile: the deploy is not done until it is
	// reported done, and pruning touches the hosts again.
	return r.fence(r.ctx)
}

// healthGate checks again the hosts switched so far before the next batch.
// A host that fails is a host failing its health check like any other: it
// is switched back alone while failures stay within max_failures, and
// otherwise, or when it is a canary (canaries, when hasCanary), the error
// stops the deploy.
func (r *run) healthGate(hosts []Host, hasCanary bool, canaries []Host) error {
	failed := r.recheck(hosts)
	for i, h := range hosts {
		err := failed[i]
		if err == nil {
			continue
		}
		canary := hasCanary && slices.ContainsFunc(canaries, func(c Host) bool { return c.Name == h.Name })
		if canary || r.failures()+1 > r.allowed {
			r.mu.Lock()
			r.out[h.Name] = true
			r.mu.Unlock()
			r.setHost(h.Name, func(hr *HostResult) { hr.State, hr.Error = HostFailed, failureText(err) })
			return err
		}
		if lost := r.leaseGone(); lost != nil {
			r.drop(h, HostFailed, err)
			return lost
		}
		if lost := r.revertOne(h, err); lost != nil {
			return lost
		}
	}
	return nil
}

// recheck checks again the health of hosts (those still in the run) on
// the run's build, as the health gate before a batch does: a deploy's
// (healthGate) and a rollback's. The hosts are checked at once, parallel
// at a time: one after another, with batch_size 1, a gate took as many
// checks in a row as hosts were switched, and a deploy about n²/2. It
// returns, by the index of hosts, why each one failed, or nil: its
// caller goes by them in the hosts' order, whichever answered first.
func (r *run) recheck(hosts []Host) []error {
	ctx := context.WithoutCancel(r.ctx)
	failed := make([]error, len(hosts))
	eachHost(hosts, r.t.env.Parallel, func(i int, h Host) {
		r.mu.Lock()
		out := r.out[h.Name]
		r.mu.Unlock()
		if out {
			return
		}
		previous := r.states[h.Name].Current
		if r.again[h.Name] {
			previous = r.states[h.Name].Previous
		}
		if err := r.e.checkHealth(ctx, r, h, r.rec.Build, previous, nil, time.Time{}); err != nil {
			failed[i] = unhealthy(h.Name, err)
		}
	})
	return failed
}

// unhealthyError is a switched host that stopped passing its health check
// by a health gate (see recheck); err is why. It names the host once, as
// err names it when that is with its address.
type unhealthyError struct {
	host string
	err  error
}

// unhealthy is host, switched, failing the health gate for err.
func unhealthy(host string, err error) error {
	ue := &unhealthyError{host: host, err: err}
	return errs.Wrap(errs.Unavailable, ue, "%v", ue)
}

func (e *unhealthyError) Error() string {
	_, lead := e.saidOf()
	return lead + " " + e.unnamed()
}
func (e *unhealthyError) Unwrap() error { return e.err }

func (e *unhealthyError) saidOf() (host, lead string) {
	lead, _ = hostLead(e.host, e.err)
	return e.host, lead
}

func (e *unhealthyError) unnamed() string {
	return "stopped passing its health check after switching: " + hostCause(e.host, e.err)
}

// revertOne switches a single failed host back, within max_failures. The
// lease is checked again between marking the build bad there and the
// switch back, which ignores the run's cancel: a lease lost meanwhile
// leaves the host on the build, failed, and is returned (wrapping
// ErrLeaseLost) for the run to stop on.
func (r *run) revertOne(h Host, cause error) error {
	ctx := context.WithoutCancel(r.ctx)
	// Only its text goes on, to the host's error and the progress: its
	// Error() says the message, and then the cause it quotes. The text
	// still wraps the failure, whose naming of the host the note that it
	// is left out goes by (see leftOutNote): flattened, the note named
	// the host, then the failure named it again.
	cause = quoted(cause)
	if _, err := r.sessions[h.Name].Run(ctx, Command{Script: markBadScript(r.t.app.Path, r.rec.Build), Timeout: r.t.env.StepTimeout.D()}); err != nil {
		r.log.Warn("mark release bad", "host", h.Name, "err", err)
	}
	r.mu.Lock()
	hr := *r.rec.Host(h.Name)
	r.mu.Unlock()
	// A host restarted where an earlier run left it switched goes back to
	// what it ran before that run, as revertAll takes it back.
	st, switched := r.revertFrom(h, hr, true)
	state := HostReverted
	switch {
	case !switched:
		// Its switch failed before `current` moved, as read back from
		// the host: it runs what it ran, and switching it back would
		// restart a healthy host for nothing, as revertAll does not.
		state = HostFailed
	case st.Current == "":
		cause = fmt.Errorf("%w; no earlier release to switch back to", cause)
		state = HostFailed
		r.mu.Lock()
		r.firstFailed = append(r.firstFailed, h.Name)
		r.mu.Unlock()
	default:
		if lost := r.leaseGone(); lost != nil {
			r.drop(h, HostFailed, cause)
			return lost
		}
		if err := r.switchBack(ctx, h, st, false); err != nil {
			if errors.Is(err, ErrLeaseLost) {
				// Not put back into rotation, or not switched at
				// all (see beginSwitch): the run stops there.
				r.drop(h, HostFailed, fmt.Errorf("%w; switch back: %w", cause, err))
				return err
			}
			cause = fmt.Errorf("%w; switch back: %w", cause, err)
			state = HostFailed
			r.mu.Lock()
			r.backFailed = append(r.backFailed, h.Name)
			r.mu.Unlock()
		}
	}
	// The switch back recorded the host's release as it passed.
	r.drop(h, state, cause)
	return nil
}

func hostNames(hs []Host) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.Name
	}
	return strings.Join(names, ", ")
}

// activate switches one host to build, restarts it and checks its health.
// Steps run to completion even when the deploy is cancelled meanwhile:
// a host is never left half-restarted.
func (r *run) activate(h Host, build, previous string) error {
	ctx := context.WithoutCancel(r.ctx)
	was, err := r.beginSwitch(h, build)
	if err != nil {
		return err
	}
	retire := r.retire
	if r.retireLeft && previous != build && !r.again[h.Name] {
		retire = previous
	}
	acts := r.switchActions(ctx, h, StepActivate, build, previous, retire)
	at := switchIndex(acts)
	done, err := r.perform(ctx, h, acts)
	if done > at && r.retire != "" {
		r.mu.Lock()
		r.retired[h.Name] = true
		r.mu.Unlock()
	}
	if err != nil {
		// A host its drain may have taken out of rotation, and that no
		// switch moved, is recorded left out with its failure, in the
		// same write, until undrain puts it back: written apart, after
		// the lease was lost to another replica, LeftOut would be refused
		// while the failure stayed, and the next run would take the host
		// for one someone took out, and leave it out.
		//
		// A drain that failed left `current` where it was: its switch
		// never began, and the record says so in that write too, with
		// nothing to read back (see settleSwitch). Left switching, the
		// host read to the next run as one this run may have switched,
		// which only a switch puts back into rotation, not as one it left
		// out unswitched (see leftUnswitched).
		out := done <= at && r.t.pool != nil && r.keepOut[h.Name] == ""
		r.setHost(h.Name, func(hr *HostResult) {
			hr.State, hr.Error = HostFailed, err.Error()
			if out {
				hr.LeftOut = true
			}
			if done < at {
				hr.Switching = was
			}
		})
		if done <= at {
			if done == at {
				r.settleSwitch(ctx, h)
			}
			if done < at || r.stayed(h, build) {
				if lost := r.undrain(ctx, h, false); lost != nil {
					return lost
				}
			} else if out {
				// It switched after all: a run that finds it out of
				// rotation goes by its switch (see leftOutBy).
				r.setHost(h.Name, func(hr *HostResult) { hr.LeftOut = false })
			}
		}
		// What failed on a host is what people need to read.
		return errs.Wrap(errs.Unavailable, err, "%v", err)
	}
	r.setHost(h.Name, func(hr *HostResult) { hr.State = HostActive })
	return nil
}

// stayed reports whether h's `current` is known not to point at build
// after its switch failed (see settleSwitch).
func (r *run) stayed(h Host, build string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	hr := r.rec.Host(h.Name)
	return hr.Switching == "" && hr.Current != build
}

// undrain puts back into rotation a host drained for a switch that did not
// happen (its drain failed, or its switch failed before `current` moved),
// forward or back: it was not restarted, and its process serves as before. A drain that
// failed may have taken it out of rotation all the same (an answer after
// the state change that could not be read). Left out, it would stay out:
// the next run takes it for a host someone took out. One someone did take
// out stays out. A host it cannot put back is recorded LeftOut (one
// activate recorded so already has it cleared once back), for the next
// run to put back: its record shows no switch, and would not tell
// that run who took it out. A lease found lost before it is put back
// leaves it out, recorded LeftOut alike (see ready), and is returned,
// wrapping ErrLeaseLost, for the run to stop on; otherwise it returns nil.
func (r *run) undrain(ctx context.Context, h Host, back bool) error {
	if r.t.pool == nil || r.keepOut[h.Name] != "" {
		return nil
	}
	err := r.ready(ctx, h)
	if err == nil {
		r.mu.Lock()
		hr := r.rec.Host(h.Name)
		recorded := hr != nil && hr.LeftOut
		r.mu.Unlock()
		if recorded {
			// Recorded with its failure (see activate): it is back now.
			r.setHost(h.Name, func(hr *HostResult) { hr.LeftOut = false })
		}
		return nil
	}
	r.setHost(h.Name, func(hr *HostResult) { hr.LeftOut = true })
	if errors.Is(err, ErrLeaseLost) {
		return err
	}
	switched := "switched"
	if back {
		switched = "switched back"
	}
	r.note("%s was neither %s nor restarted, and putting it back into rotation failed: %v — check it in the load balancer", h.Name, switched, err)
	return nil
}

// ready puts h back into rotation, only under the lease, checked first
// (see leaseGone): a host's steps ignore the run's cancel, its drain,
// switch, restart and health check take a while, and a replica that lost
// the lease meanwhile would put back into rotation a host the one holding
// it now may have drained to switch it. A lease found lost leaves h out,
// a note says so, the run is stopped with that cause (it ends as any run
// that lost its lease does), and the error, wrapping ErrLeaseLost, is
// returned.
func (r *run) ready(ctx context.Context, h Host) error {
	if lost := r.leaseGone(); lost != nil {
		r.cancel(lost)
		r.log.Warn("put back into rotation skipped: deploy lease lost", "host", h.Name, "err", lost)
		r.note("%s not put back into rotation, left out: this replica lost the deploy lease (it ran out, or the state store could not confirm it), and the replica holding the lease now may have drained it to switch it; check it in the load balancer once that replica's run ends", h.Name)
		return lost
	}
	return r.t.pool.Ready(ctx, h)
}

// switchActions are the steps that move h to build: with a load balancer,
// the drain first, so that a host whose app reads its files as it goes
// (PHP, templates, assets) serves the requests the drain waits for from
// the release its process runs; then the switch (step names it: activate
// or revert; see switchScript), the before_restart hook, restart, the
// health check, the after_restart hook, ready.
func (r *run) switchActions(ctx context.Context, h Host, step Step, build, previous, retire string) []action {
	env := r.cmdEnv(h, build, previous)
	timeout := r.t.env.StepTimeout.D()
	script := func(step Step, cmd string) action {
		return action{step: step, script: inDir(r.t.app.Path, env, cmd), timeout: timeout}
	}
	var acts []action
	// A host someone took out of rotation stays out (see poolCheck); one
	// in maint has no sessions to wait for.
	keep := r.keepOut[h.Name]
	if r.t.pool != nil && keep != PoolMaint {
		acts = append(acts, action{step: StepDrain, call: func() error {
			err := r.t.pool.Drain(ctx, h)
			if errors.Is(err, ErrDrainTimeout) {
				r.note("%s: %v; restarting it anyway", h.Name, err)
				return nil
			}
			return err
		}})
	}
	acts = append(acts, action{
		step: step, script: switchScript(r.t.app.Path, build, previous, retire, nonce()), timeout: timeout,
		passed: func() {
			r.setHost(h.Name, func(hr *HostResult) { hr.Current, hr.Switched, hr.Switching = build, true, "" })
		},
	})
	if hook := r.t.env.Hooks.BeforeRestart; hook != "" {
		acts = append(acts, script(StepHook, hook))
	}
	if r.t.app.Restart != "" {
		acts = append(acts, script(StepRestart, r.t.app.Restart))
	}
	acts = append(acts, r.healthAction(ctx, h, build, previous))
	if hook := r.t.env.Hooks.AfterRestart; hook != "" {
		acts = append(acts, script(StepHook, hook))
	}
	if r.t.pool != nil && keep == "" {
		acts = append(acts, action{step: StepReady, call: func() error { return r.ready(ctx, h) }})
	}
	return acts
}

// switchIndex returns the index of the switch among acts (see
// switchActions): the steps before it leave `current` as it was.
func switchIndex(acts []action) int {
	return slices.IndexFunc(acts, func(a action) bool { return a.step == StepActivate || a.step == StepRevert })
}

// healthAction checks h's health on build: a health command's first
// attempt is a host script, chained with the restart before it; the
// further attempts, and HTTP checks, are the bot's.
func (r *run) healthAction(ctx context.Context, h Host, build, previous string) action {
	hc := r.t.app.Health
	if hc.URL != "" || hc.Command == "" {
		return action{step: StepHealth, call: func() error { return r.e.checkHealth(ctx, r, h, build, previous, nil, time.Time{}) }}
	}
	return action{
		step: StepHealth, script: r.healthScript(h, build, previous, r.vars(h, build)), timeout: hc.Timeout.D(),
		retry: func(first error, began time.Time) error {
			return r.e.checkHealth(ctx, r, h, build, previous, first, began)
		},
	}
}

// call runs a's step that is not a host script (a health probe, a load
// balancer command), emitting its start and end like step does.
func (r *run) call(ctx context.Context, h Host, a action) error {
	r.emit(Event{Kind: EventStep, Host: h.Name, Step: a.step, Back: a.back})
	err := a.call()
	ev := Event{Kind: EventStep, Host: h.Name, Step: a.step, Back: a.back, Done: true}
	if err != nil {
		err = stepFailed(a.step, h.Name, err)
		ev.Err = err.Error()
	}
	r.emit(ev)
	return err
}

// revertAll switches every host this deploy switched back to the release it
// ran before, restarts and checks it, and marks the new release bad; a
// cancelled deploy leaves it unmarked where it stays live, on a host that
// had no earlier release (nobody found the build faulty).
func (r *run) revertAll(cause error) (Outcome, error) {
	build := r.rec.Build
	cancelled := errors.Is(cause, errCancelled)
	ctx := context.WithoutCancel(r.ctx)
	// A cancel before any host switched (at the first batch, after the
	// migrations) marks nothing: no host ran the build, and nobody found
	// it faulty. Marked, a release that ran here before, deployed again,
	// would be no rollback target any more.
	anySwitched := false
	r.mu.Lock()
	for _, h := range r.hosts {
		hr := r.rec.Host(h.Name)
		if hr.MayHaveSwitched() || hr.State == HostReverted {
			anySwitched = true
		}
	}
	r.mu.Unlock()
	// Saying "switching back" where no host switched (a cancel at the
	// first batch, a first switch that failed before `current` moved), or
	// where none had an earlier release, to have the report then say
	// otherwise, told of a switch back that never came.
	switch first := r.nothingToSwitchBack(anySwitched); {
	case !anySwitched:
		r.note("stopping: %v; nothing was switched", causeText(cause))
	case len(first) > 0:
		r.note("stopping: %v; nothing to switch back to: %s had no earlier release", causeText(cause), strings.Join(first, ", "))
	default:
		r.note("switching back: %v", causeText(cause))
	}
	// Hosts go back batch_size at a time, as they came: restoring service
	// fast matters, but not by restarting more of the fleet at once than
	// the env allows.
	const (
		untouched = iota
		reverted
		stuck
		first // switched, but it had no earlier release to go back to
	)
	fate := make([]int, len(r.hosts))
	var marked atomic.Int64 // hosts on which the release was marked bad
	// unmarked holds the hosts whose marker could not be written (a full
	// disk): the report must not say the release is marked there, since
	// a rollback would still pick it.
	var (
		unmarkedMu sync.Mutex
		unmarkedAt = map[string]error{}
	)
	// Switching back takes a while on a large fleet: a lease lost
	// meanwhile hands the app+env to another replica, and the hosts not
	// yet switched back are its to change, not this one's. Once found
	// lost, no further host is touched.
	var (
		lostMu sync.Mutex
		lost   error
	)
	leaseGone := func() bool {
		lostMu.Lock()
		defer lostMu.Unlock()
		if lost == nil {
			lost = r.leaseGone()
		}
		return lost != nil
	}
	eachHost(r.hosts, r.t.env.BatchSize, func(i int, h Host) {
		if r.sessions[h.Name] == nil {
			return // never reached
		}
		if leaseGone() {
			return
		}
		r.mu.Lock()
		hr := *r.rec.Host(h.Name)
		r.mu.Unlock()
		st, switchedHere := r.revertFrom(h, hr, anySwitched)
		if hr.State == HostDelivered || hr.State == HostDelivering || hr.State == HostPending {
			r.setHost(h.Name, func(hr *HostResult) { hr.State = HostUnchanged })
		}
		if !cancelled || anySwitched && (!switchedHere || st.Current != "") {
			if _, err := r.sessions[h.Name].Run(ctx, Command{Script: markBadScript(r.t.app.Path, build), Timeout: r.t.env.StepTimeout.D()}); err != nil {
				r.log.Warn("mark release bad", "host", h.Name, "build", build, "err", err)
				unmarkedMu.Lock()
				unmarkedAt[h.Name] = err
				unmarkedMu.Unlock()
			} else {
				marked.Add(1)
				if !switchedHere && r.states[h.Name].Current == build {
					// It ran the build before this deploy and still
					// does: on a release now marked bad.
					r.setHost(h.Name, func(hr *HostResult) {
						hr.RunsBad = true
						hr.Error = joinErr(hr.Error, fmt.Sprintf("still runs %s, which this revert marked bad: roll it back", build))
					})
				}
			}
		}
		if !switchedHere {
			if hr.State == HostReverted {
				// Switched back on its own earlier, within max_failures.
				fate[i] = reverted
			}
			return
		}
		if st.Current == "" {
			fate[i] = first
			r.setHost(h.Name, func(hr *HostResult) {
				hr.Error = joinErr(hr.Error, "no earlier release to switch back to")
			})
			return
		}
		// Marking the build bad took a round trip since the check above,
		// and the switch back ignores the run's cancel: a lease lost
		// meanwhile, noticed by no renewal yet, is caught here.
		if leaseGone() {
			return
		}
		if err := r.switchBack(ctx, h, st, hr.State == HostActive); err != nil {
			if errors.Is(err, ErrLeaseLost) {
				// Not put back into rotation, or not switched back at
				// all (see beginSwitch): no further host is touched.
				lostMu.Lock()
				if lost == nil {
					lost = err
				}
				lostMu.Unlock()
			}
			fate[i] = stuck
			r.setHost(h.Name, func(hr *HostResult) { hr.State, hr.Error = HostFailed, joinErr(hr.Error, "switch back: "+err.Error()) })
			return
		}
		fate[i] = reverted
		r.setHost(h.Name, func(hr *HostResult) { hr.State = HostReverted })
	})
	if lost != nil {
		return r.leaseLost(lost)
	}
	var kept []string
	back := map[string][]string{} // by the release the hosts went back to
	r.mu.Lock()
	left := slices.Clone(r.backFailed) // switched back within max_failures, and failed there
	r.mu.Unlock()
	// A host whose switch back failed within max_failures was tried
	// again above: it is named once, by how that try ended.
	for i, h := range r.hosts {
		switch fate[i] {
		case reverted:
			r.mu.Lock()
			hr := *r.rec.Host(h.Name)
			r.mu.Unlock()
			rel := hr.Current
			back[rel] = append(back[rel], h.Name)
			left = slices.DeleteFunc(left, func(name string) bool { return name == h.Name })
		case stuck:
			if !slices.Contains(left, h.Name) {
				left = append(left, h.Name)
			}
		case first:
			kept = append(kept, h.Name)
		}
	}
	msg := causeText(cause)
	if !anySwitched {
		msg += "; nothing was switched"
	}
	switch {
	case marked.Load() > 0 && len(unmarkedAt) > 0:
		msg += fmt.Sprintf("; release %s marked bad on the other hosts", build)
	case marked.Load() > 0:
		msg += fmt.Sprintf("; release %s marked bad", build)
	}
	if len(unmarkedAt) > 0 {
		// In the hosts' order, whichever answered first; the first one's
		// error says why (the others' are in the log).
		var unmarked []string
		for _, h := range r.hosts {
			if unmarkedAt[h.Name] != nil {
				unmarked = append(unmarked, h.Name)
			}
		}
		msg += "; " + unmarkedText(build, unmarked, unmarkedAt[unmarked[0]])
	}
	for _, rel := range slices.Sorted(maps.Keys(back)) {
		msg += fmt.Sprintf("; switched back to %s on %s", rel, strings.Join(back[rel], ", "))
	}
	if len(left) > 0 {
		msg += "; " + r.couldNotSwitchBack(left)
	}
	if bad := RunsBadText(r.snapshot()); bad != "" {
		// This deploy did not switch them: they ran the build before it,
		// and a revert leaves them there.
		msg += "; " + bad
	}
	if len(kept) > 0 {
		msg += "; " + r.firstReleaseText(kept, build, cancelled)
	}
	if len(r.migrated) > 0 && (len(back) > 0 || !anySwitched) {
		// Hosts run the earlier release again, or still: the database
		// does not go back with them.
		undo := "neither switching back nor a rollback undoes them"
		if !anySwitched {
			undo = "a rollback does not undo them"
		}
		msg += fmt.Sprintf("; the migrations it ran (%s) stay applied: %s", strings.Join(r.migrated, ", "), undo)
	}
	code := errs.CodeOf(cause)
	if cancelled {
		// A cancel is no internal error: the record says msg, which names
		// who cancelled, once.
		code = errs.Conflict
	}
	err := errs.Wrap(code, cause, "%s", msg)
	if cancelled && len(left) == 0 {
		return OutcomeCancelled, err
	}
	return OutcomeReverted, err
}

// unmarkedText says that release build could not be marked bad on hosts,
// the first of which failed for err. It names each host once: the list
// names them, and err, said without the SSH transport's naming of its
// host, is said of that host when the list has others, by that naming
// ("host0 (10.0.0.5:22): connection lost", "host0: exit status 2: …"). Of
// several hosts, it quoted err as it was: "ssh: host0 (…): …" named the
// host again, and an error that names none left to guess whose it was.
func unmarkedText(build string, hosts []string, err error) string {
	lead, rest := hostLead(hosts[0], err)
	why := rest.Error()
	if len(hosts) > 1 {
		why = lead + ": " + why
	}
	return fmt.Sprintf("could NOT mark release %s bad on %s (%s): a rollback there may still pick it", build, strings.Join(hosts, ", "), why)
}

// couldNotSwitchBack names the hosts a deploy failed to switch back and
// asks for a look at each, then for the rollback that finishes their
// switch back (see couldNotSwitchBackText).
func (r *run) couldNotSwitchBack(hosts []string) string {
	var to []string
	for _, h := range r.hosts {
		if !slices.Contains(hosts, h.Name) {
			continue
		}
		r.mu.Lock()
		hr := *r.rec.Host(h.Name)
		r.mu.Unlock()
		// Every host named was switched: only the release it goes back
		// to counts.
		if st, _ := r.revertFrom(h, hr, true); st.Current != "" && !slices.Contains(to, st.Current) {
			to = append(to, st.Current)
		}
	}
	slices.Sort(to)
	return couldNotSwitchBackText(r.t.app.Name, r.t.env.Name, hosts, to)
}

// couldNotSwitchBackText says that hosts of app/env could not be switched
// back to the releases to, and offers the rollback that finishes it. The
// rollback names its release: the hosts run different releases then, and
// a rollback naming none is refused. With the hosts going back to several
// releases, which to keep is someone's choice: the command, with a word to
// fill in, is prose, not marked as one to send as it is. The message is
// read on a single host as often as on several, and "check them" of one
// host reads as a word missing.
func couldNotSwitchBackText(app, env string, hosts, to []string) string {
	them := "them"
	if len(hosts) == 1 {
		them = "it"
	}
	msg := fmt.Sprintf("could NOT switch back %s — check %s and ", strings.Join(hosts, ", "), them)
	if len(to) == 1 {
		return msg + suggest.Command("rollback "+app+" "+env+" to "+to[0])
	}
	msg += fmt.Sprintf("roll back to one release: rollback %s %s to BUILD", app, env)
	if len(to) > 1 {
		msg += fmt.Sprintf(" (they were going back to %s)", strings.Join(to, ", "))
	}
	return msg
}

// RunsBadText says, of a reverted deploy's record, which hosts still run
// its build, marked bad by the revert (see HostResult.RunsBad), and what
// to do; "" when none does. A deploy's message and `status` say it alike.
// The rollback it advises goes where the hosts it switched went back to,
// when that is one release: a plain rollback is refused while the hosts
// run different releases.
func RunsBadText(rec *Record) string {
	var bad []string
	back := map[string]bool{}
	for _, h := range rec.Hosts {
		if h.RunsBad {
			bad = append(bad, h.Host)
		}
		if h.State == HostReverted && h.Current != "" {
			back[h.Current] = true
		}
	}
	if len(bad) == 0 {
		return ""
	}
	// With the release to go to unknown, the command has a word to fill
	// in: told as prose, not marked as one to send as it is.
	rollback := "rollback " + rec.App + " " + rec.Env + " to BUILD"
	if len(back) == 1 {
		for rel := range back {
			rollback = suggest.Command("rollback " + rec.App + " " + rec.Env + " to " + rel)
		}
	}
	if len(bad) == 1 {
		return fmt.Sprintf("%s still runs %s, which is marked bad now (it ran it before this deploy, which did not switch it): roll it back with %s", bad[0], rec.Build, rollback)
	}
	return fmt.Sprintf("%s still run %s, which is marked bad now (they ran it before this deploy, which did not switch them): roll them back with %s", strings.Join(bad, ", "), rec.Build, rollback)
}

// revertFrom returns the state h is switched back to when the deploy is
// reverted, as before (its Current is the release it goes back to), and
// whether it is switched back at all: when the deploy switched it (see
// switchedTo), or when an earlier run left it switched to the build
// without a passing restart (r.again), restarted there by this deploy or,
// when anySwitched (the deploy switched some host), not reached yet. Such a
// host goes back with the others, to the release it ran before that run
// switched it: the release the deploy moves the fleet from. Left on the
// build, it ran a release marked bad while the deploy said it was
// switched back. A deploy that switched no host (a cancel before its
// first batch) leaves one it did not reach as the earlier run left it,
// for the next run to finish. hr is its result in the record.
func (r *run) revertFrom(h Host, hr HostResult, anySwitched bool) (before hostState, switched bool) {
	st := r.states[h.Name]
	if r.again[h.Name] && st.Current == r.rec.Build {
		// Its `previous` before that run is not known: none is better
		// than one naming the release it leaves.
		return hostState{Current: st.Previous}, anySwitched || hr.MayHaveSwitched()
	}
	return st, switchedTo(hr, st, r.rec.Build)
}

// switchedTo reports whether a deploy of build moved the host's `current`
// to it, the host's result being hr and its state before the deploy
// st: the hosts revertAll switches back. A host lost during its switch
// may point at build: it is switched back too (or named among those
// that could not be).
func switchedTo(hr HostResult, st hostState, build string) bool {
	return (hr.Current == build || hr.Switching == build) && st.Current != build
}

// nothingToSwitchBack returns the hosts the deploy switched, when every
// one of them had no earlier release: then revertAll switches none back.
// It returns nil when some host has a release to go back to, or when
// none was switched. anySwitched is as revertFrom takes it.
func (r *run) nothingToSwitchBack(anySwitched bool) []string {
	var first []string
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.hosts {
		if r.sessions[h.Name] == nil {
			continue // never reached
		}
		st, switched := r.revertFrom(h, *r.rec.Host(h.Name), anySwitched)
		if !switched {
			continue
		}
		if st.Current != "" {
			return nil
		}
		first = append(first, h.Name)
	}
	return first
}

// leaseGone reports, as an ErrLeaseLost, whether this run's lease is
// lost (or cannot be confirmed). Unlike fence it ignores a cancel: a
// cancelled deploy still switches its hosts back, under its lease. A
// lease lost by what this process knows (a renewal found it lost, or it
// ran out by this process's clock) is lost whatever the store says: the
// store may still find it held while another replica has taken it.
func (r *run) leaseGone() error {
	if cause := context.Cause(r.ctx); errors.Is(cause, ErrLeaseLost) {
		return cause
	}
	if err := r.leaseClock.runOut(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), defaultStoreTimeout)
	defer cancel()
	if err := r.lease.Check(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrLeaseLost, err)
	}
	return nil
}

// leaseLost ends a deploy that lost its lease. Another replica may hold the
// app+env by now, and has reported this deploy interrupted: no host is
// touched again, not even to switch it back. The record keeps each host's
// state for the person who decides what next.
func (r *run) leaseLost(cause error) (Outcome, error) {
	return OutcomeInterrupted, errs.Wrap(errs.Unavailable, cause,
		"this replica lost the deploy lease (it ran out, or the state store could not confirm it), so it stopped before touching more hosts; hosts are left as they are: roll back, or deploy again")
}

// beginSwitch records that h starts to switch to build, before anything
// on h changes. A write the store refuses (recovery on another replica
// took the run over, once its lease ran out: a pause, a partition, after
// the last fencing check) stops there, h untouched: recovery recorded the
// hosts as they were, and a switch now would change one behind that
// account, which `status` and the rollback it offers go by. So does a
// lease lost since that check by any other account (run out by this
// process's clock while the write waited on a stalled store, a store the
// write or a renewal found reset): the switch runs under a context that
// ignores the run's cancel, so without this look it went ahead on a host
// another replica may own by now. The host's entry is put back as it was
// and the error wraps ErrLeaseLost. It returns the release the host's
// entry said it was switching to before (see HostResult.Switching), for
// a switch that never begins to put back.
func (r *run) beginSwitch(h Host, build string) (string, error) {
	r.mu.Lock()
	hr := r.rec.Host(h.Name)
	was := *hr
	r.mu.Unlock()
	r.setHost(h.Name, func(hr *HostResult) { hr.State = HostActivating; hr.startSwitch(build) })
	r.mu.Lock()
	defer r.mu.Unlock()
	why := r.refused
	if cause := context.Cause(r.ctx); why == nil && errors.Is(cause, ErrLeaseLost) {
		why = cause
	}
	if why == nil {
		return was.Switching, nil
	}
	*r.rec.Host(h.Name) = was
	return "", fmt.Errorf("%w: %s was not switched: %w", ErrLeaseLost, h.Name, why)
}

// refusedErr returns, wrapping ErrLeaseLost, why the store refused a
// write of the record (see beginSwitch), or nil.
func (r *run) refusedErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refused == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrLeaseLost, r.refused)
}

// switchBack points a host at the release it ran before this deploy,
// restarts it and checks its health. A host whose drain fails is not
// switched back: it stays as it was, and the error says why. One that
// served the build until then (it passed every step, ready included) is
// put back into rotation when its drain or its switch failed before
// `current` moved, as activate puts back a host whose forward switch did
// not happen: it still serves what it served, and left out, it would
// stay out with nothing but its record saying so. One that failed its
// own steps or its recheck before a batch (serving false) stays out.
func (r *run) switchBack(ctx context.Context, h Host, before hostState, serving bool) error {
	// Activating again until it passes: a run that dies meanwhile leaves
	// the host for a rollback to finish (see stuckHosts).
	was, err := r.beginSwitch(h, before.Current)
	if err != nil {
		return err
	}
	acts := r.switchActions(ctx, h, StepRevert, before.Current, before.Previous, "")
	for i := range acts {
		acts[i].back = true
	}
	done, err := r.perform(ctx, h, acts)
	if at := switchIndex(acts); err != nil && done <= at {
		if done < at {
			// Its drain failed: `current` is where it was (see activate).
			r.setHost(h.Name, func(hr *HostResult) { hr.Switching = was })
		} else {
			r.settleSwitch(ctx, h)
		}
		if serving && (done < at || r.stayed(h, before.Current)) {
			if lost := r.undrain(ctx, h, true); lost != nil {
				return fmt.Errorf("%w; %w", err, lost)
			}
		}
	}
	return err
}

// settleSwitch records where h's `current` points after its switch step
// failed: the script may have failed after its rename (a marker it could
// not write, a step killed at its timeout), and both the record and the
// decision to switch the host back must go by what the host runs. A host
// that cannot be read (it died, maybe after its rename) keeps Switching:
// it may point there, and a later run that finds it there finishes it.
func (r *run) settleSwitch(ctx context.Context, h Host) {
	out, err := r.sessions[h.Name].Run(ctx, Command{Script: inspectScript(r.t.app.Path, false, false), Timeout: r.t.env.StepTimeout.D()})
	if err != nil {
		r.setHost(h.Name, func(hr *HostResult) {
			hr.Error = unreadCurrent(hr.Error, h.Name, err)
		})
		return
	}
	cur := parseInspect(out).Current
	r.setHost(h.Name, func(hr *HostResult) {
		// Found where it was switching to, it switched, as the recovery
		// of a dead run takes it: left unswitched, a host the run does
		// not switch back (within max_failures with no earlier release,
		// a lease lost first) reads to the next run as one running the
		// build already that someone took out of rotation, and stays
		// out, never restarted (see unfinished, leftOutBy).
		if hr.Switching != "" && cur == hr.Switching {
			hr.Switched = true
		}
		hr.Current, hr.Switching = cur, ""
	})
}

// unreadCurrent adds to prior, host's error, that where its current
// points could not be read after its failed switch, for err. The record
// is of host, so err is said without naming it, but with the address it
// gave (see hostLead) unless prior gives it already: said once, it is
// there for whoever has to reach the host.
func unreadCurrent(prior, host string, err error) string {
	lead, cause := namedCause(host, err)
	if lead != host && !strings.Contains(prior, lead) {
		cause = lead + ": " + cause
	}
	return joinErr(prior, "could not read current after the failed switch: "+cause)
}

// pruneFailed is the note that pruning old releases on host failed for
// err, naming the host as namedCause does.
func pruneFailed(host string, err error) string {
	lead, cause := namedCause(host, err)
	return fmt.Sprintf("pruning old releases on %s failed: %s", lead, cause)
}

// pruneAll removes old releases on every host where pruneScript would
// remove one, or a partial one (the others are left alone: a session
// costs a fleet more than the check), never target, where a rollback from
// the deploy goes; failures are reported, not fatal. Notes come in the
// hosts' order, whichever host answers first. A host is pruned only
// under the lease, checked before its prune (see leaseGone): the prune
// comes after the last fencing check and ignores the run's cancel, and a
// replica that lost the lease since would remove releases the one
// holding it now may be switching to, or rolling back to. Once the lease
// is found lost, no further host is pruned, a note says so, and the run
// is stopped with that cause: it ends as any run that lost its lease
// does, whichever of this check and a renewal found it first.
func (r *run) pruneAll(target string) {
	ctx := context.WithoutCancel(r.ctx)
	var live []Host
	for _, h := range r.live() {
		if r.states[h.Name].needsPrune(r.rec.Build, target, r.t.app.KeepReleases) {
			live = append(live, h)
		}
	}
	notes := make([]string, len(live))
	r.pruned = map[string][]string{}
	var (
		lostMu sync.Mutex
		lost   error
	)
	skipped := make([]bool, len(live))
	eachHost(live, r.t.env.Parallel, func(i int, h Host) {
		lostMu.Lock()
		if lost == nil {
			lost = r.leaseGone()
		}
		gone := lost != nil
		lostMu.Unlock()
		if gone {
			skipped[i] = true
			return
		}
		out, err := r.sessions[h.Name].Run(ctx, Command{Script: pruneScript(r.t.app.Path, r.t.app.KeepReleases, target), Timeout: r.t.env.StepTimeout.D()})
		if err != nil {
			notes[i] = pruneFailed(h.Name, err)
			return
		}
		// pruned names the releases gone as releases; of those, the
		// unremoved ones still hold their files (see pruneScript).
		var pruned, removed, failed []string
		for _, line := range strings.Split(string(out), "\n") {
			k, v, _ := strings.Cut(line, "=")
			rel, why, _ := strings.Cut(v, " ")
			why = truncateText(why, 200)
			switch k {
			case "pruned":
				pruned = append(pruned, v)
				removed = append(removed, v)
			case "unremoved":
				removed = slices.DeleteFunc(removed, func(s string) bool { return s == rel })
				failed = append(failed, fmt.Sprintf("could not delete the files of old release %s (%s): they are left in releases/.tmp-pruned-%s, taking disk space, for someone to remove", rel, why, rel))
			case "unpruned":
				failed = append(failed, fmt.Sprintf("could not remove old release %s (%s)", rel, why))
			case "unswept":
				failed = append(failed, fmt.Sprintf("could not delete what an earlier prune or delivery left in releases/ (%s): it takes disk space until someone removes it", truncateText(v, 200)))
			case "unlinked":
				failed = append(failed, fmt.Sprintf("could not delete the temporary link an earlier switch left in the deploy directory (%s): it stays until someone removes it", truncateText(v, 200)))
			}
		}
		if len(pruned) > 0 {
			r.mu.Lock()
			r.pruned[h.Name] = pruned
			r.mu.Unlock()
		}
		var says []string
		if len(removed) > 0 {
			says = append(says, "removed old releases "+strings.Join(removed, ", "))
		}
		says = append(says, failed...)
		if len(says) > 0 {
			notes[i] = h.Name + ": " + strings.Join(says, "; ")
		}
	})
	for _, n := range notes {
		if n != "" {
			r.note("%s", n)
		}
	}
	if lost != nil {
		var left []string
		for i, h := range live {
			if skipped[i] {
				left = append(left, h.Name)
			}
		}
		r.cancel(lost)
		r.log.Warn("prune skipped: deploy lease lost", "hosts", left, "err", lost)
		r.note("old releases left in place on %s: this replica lost the deploy lease (it ran out, or the state store could not confirm it), and the replica holding it now may switch or roll back to one of them", strings.Join(left, ", "))
	}
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// failureText is what people read of a host's failure: the message of
// err, which quotes its cause (see activate, healthGate); err.Error()
// would say it twice.
func failureText(err error) string {
	if errs.CodeOf(err) == errs.Internal {
		return err.Error()
	}
	return errs.Message(err)
}

// quoted is err as people are told it (see failureText), still wrapping
// err.
func quoted(err error) error {
	return &restOf{msg: failureText(err), err: err}
}

// causeText says why a deploy is switched back: a person's cancel as such
// ("cancelled by bob"), anything else as errs tells people.
func causeText(cause error) string {
	if errors.Is(cause, errCancelled) {
		return cause.Error()
	}
	return errs.Message(cause)
}

// truncateText returns s, as valid UTF-8, cut to at most n characters
// with an ellipsis: a host's error line can be as long as a path.
func truncateText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
