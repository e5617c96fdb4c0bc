package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/errs"
)

const defaultStoreTimeout = 10 * time.Second

// LockOwnerBot owns the locks the bot takes itself (after a rollback).
const LockOwnerBot = "switchman"

// Rollback switches app/env back to the previous good release (or req.Build
// when set) that is still on disk on every host, restarts and checks it,
// marks the release it left as bad and locks the app+env so that deploying
// again is a deliberate act. It returns the new record or, when nothing was
// started, an error for people.
func (e *Engine) Rollback(ctx context.Context, req Request, sink Sink) (*Record, error) {
	for _, b := range []string{req.Build, req.From} {
		if b != "" && !ValidBuild(b) {
			return nil, errs.New(errs.Invalid, "invalid build %q", b)
		}
	}
	t, err := e.resolve(req.App, req.Env)
	if err != nil {
		return nil, err
	}
	r, err := e.begin(ctx, t, KindRollback, req, sink)
	if err != nil {
		return nil, err
	}
	from, to, err := r.rollbackTarget(req.Build)
	if err == nil && req.From != "" && from != req.From {
		err = errs.New(errs.Conflict, "%s runs %s now, not %s; nothing was rolled back (to roll back what runs now: rollback %s %s)", t.key(), orNone(from), req.From, req.App, t.env.Name)
	}
	if err != nil {
		r.abandon()
		return nil, err
	}
	r.rec.Build, r.rec.Previous = to, from
	return r.start(func() (Outcome, error) { return r.rollback(from, to) }), nil
}

// rollbackTarget picks the release to go back to: the named one, else the
// `previous` link of the first host, else the newest release that is
// neither current nor marked bad. It must exist on every host that could
// be reached (hosts left out within max_failures were not inspected).
func (r *run) rollbackTarget(named string) (from, to string, err error) {
	live := r.live()
	first := r.states[live[0].Name]
	from = first.Current
	to = named
	if to == "" {
		if p := first.Previous; p != "" && p != from && first.has(p) && !first.Bad[p] {
			to = p
		} else {
			for _, rel := range first.Releases {
				if rel != from && !first.Bad[rel] {
					to = rel
					break
				}
			}
		}
		if to == "" {
			return "", "", errs.New(errs.NotFound, "no earlier good release of %s is on disk to roll back to (current: %s); nothing was changed", r.t.key(), orNone(from))
		}
	}
	var missing, current []string
	for _, h := range live {
		st := r.states[h.Name]
		if !st.has(to) {
			missing = append(missing, h.Name)
		}
		if st.Current == to {
			current = append(current, h.Name)
		}
	}
	if len(missing) > 0 {
		avail := strings.Join(goodReleases(first), ", ")
		return "", "", errs.New(errs.NotFound, "release %s of %s is not on %s; releases on disk: %s; nothing was changed", to, r.t.key(), strings.Join(missing, ", "), orNone(avail))
	}
	if len(current) == len(live) {
		return "", "", errs.New(errs.NoChange, "%s already runs %s on every host; nothing to do", r.t.key(), to)
	}
	return from, to, nil
}

func goodReleases(st hostState) []string {
	var out []string
	for _, rel := range st.Releases {
		if !st.Bad[rel] {
			out = append(out, rel)
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// rollback switches every host that does not run `to` yet, in batches;
// unlike a deploy it does not stop at a failed host: restoring service on
// as many hosts as possible is the point.
func (r *run) rollback(from, to string) (Outcome, error) {
	var todo, unchanged []Host
	for _, h := range r.live() {
		if r.states[h.Name].Current == to {
			unchanged = append(unchanged, h)
			continue
		}
		todo = append(todo, h)
	}
	r.setHosts(unchanged, func(hr *HostResult) { hr.State = HostUnchanged })
	if from != "" && from != to {
		r.retire, r.retired = from, map[string]bool{}
	}
	var mu sync.Mutex
	var failed []string
	size := r.t.env.BatchSize
	for start := 0; start < len(todo); start += size {
		if err := r.fence(context.WithoutCancel(r.ctx)); err != nil {
			return OutcomeInterrupted, errs.Wrap(errs.Unavailable, err, "rollback stopped before touching more hosts")
		}
		var wg sync.WaitGroup
		for _, h := range todo[start:min(start+size, len(todo))] {
			wg.Go(func() {
				if err := r.activate(h, to, r.states[h.Name].Current); err != nil {
					mu.Lock()
					failed = append(failed, h.Name)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	ctx := context.WithoutCancel(r.ctx)
	if r.retire != "" {
		// Hosts that did not switch (already on to, or failed before
		// their switch ran) still mark the release bad.
		var rest []Host
		r.mu.Lock()
		for _, h := range r.live() {
			if !r.retired[h.Name] {
				rest = append(rest, h)
			}
		}
		r.mu.Unlock()
		eachHost(rest, r.t.env.Parallel, func(_ int, h Host) {
			if _, err := r.sessions[h.Name].Run(ctx, Command{Script: markBadScript(r.t.app.Path, from), Timeout: r.t.env.StepTimeout.D()}); err != nil {
				r.e.log.Warn("mark release bad", "host", h.Name, "build", from, "err", err)
			}
		})
	}
	if r.e.locks != nil && from != "" {
		// The bot owns the lock, not the requester: nobody deploys past it
		// without a deliberate unlock.
		lock := Lock{App: r.t.app.Name, Env: r.t.env.Name, Owner: LockOwnerBot, Created: r.e.now(),
			Reason: fmt.Sprintf("rolled back from %s by %s: fix before deploying again", from, r.rec.Requester)}
		lctx, cancel := context.WithTimeout(ctx, defaultStoreTimeout)
		if err := r.e.locks.PutLock(lctx, lock); err != nil {
			r.note("could not lock %s after the rollback: %v", r.t.key(), err)
		} else {
			r.note("%s is locked: %s (/unlock deploys %s %s when fixed)", r.t.key(), lock.Reason, r.t.app.Name, r.t.env.Name)
		}
		cancel()
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return OutcomeFailed, errs.New(errs.Unavailable, "rollback to %s failed on %s", to, strings.Join(failed, ", "))
	}
	if len(r.outErr) > 0 {
		var down, refused []string
		for _, o := range r.outErr {
			if o.state == HostUnreachable {
				down = append(down, o.host)
			} else if msg := o.err.Error(); strings.Contains(msg, o.host) {
				refused = append(refused, msg)
			} else {
				refused = append(refused, o.host+": "+msg)
			}
		}
		var why []string
		if len(down) > 0 {
			why = append(why, strings.Join(down, ", ")+" could not be reached")
		}
		when := "they are up"
		if len(refused) > 0 {
			why = append(why, "refused: "+strings.Join(refused, ", "))
			when = "they are fixed"
		}
		return OutcomePartial, errs.New(errs.Unavailable, "rolled back to %s on the hosts that could be used; %s; those were left as they were: roll them back once %s",
			to, strings.Join(why, "; "), when)
	}
	return OutcomeSucceeded, nil
}
