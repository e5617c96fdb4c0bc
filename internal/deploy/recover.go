package deploy

import (
	"context"
	"errors"
	"fmt"
)

// Recover finds deploys recorded as running whose process is gone (their
// app+env lease is free), marks them interrupted with the per-host state it
// can observe now, and returns them. It never resumes or retries a deploy:
// only a person decides what happens next.
func (e *Engine) Recover(ctx context.Context) ([]*Record, error) {
	recs, err := e.store.Records(ctx, Filter{Outcome: OutcomeRunning})
	if err != nil {
		return nil, fmt.Errorf("recover: list running deploys: %w", err)
	}
	var out []*Record
	for _, rec := range recs {
		e.mu.Lock()
		_, mine := e.running[rec.App+"/"+rec.Env]
		e.mu.Unlock()
		if mine {
			continue
		}
		lease, err := e.leases.Acquire(ctx, "deploy:"+rec.App+"/"+rec.Env, "recovery:"+rec.ID, e.leaseTTL)
		if errors.Is(err, ErrLeaseHeld) {
			continue // still running somewhere
		}
		if err != nil {
			return out, fmt.Errorf("recover %s: %w", rec.ID, err)
		}
		// The list may be stale: the deploy may have finished, and freed
		// its lease, since it was read. Only a deploy still running now
		// is interrupted.
		cur, err := e.store.Record(ctx, rec.ID)
		if err != nil || cur.Outcome != OutcomeRunning {
			if rerr := lease.Release(ctx); rerr != nil {
				e.log.Warn("release recovery lease", "deploy", rec.ID, "err", rerr)
			}
			if err != nil {
				return out, fmt.Errorf("recover %s: %w", rec.ID, err)
			}
			continue
		}
		rec = cur
		// The recovery lease's token fences the record: should the
		// deploy's process still be alive somewhere, its later writes
		// are refused instead of replacing this account.
		rec.Fence = lease.Token()
		rec.Outcome = OutcomeInterrupted
		rec.Finished = e.now()
		rec.Error = fmt.Sprintf("the process running this %s (%s) stopped before it finished; hosts are as observed at recovery", rec.Kind, rec.Owner)
		observed, oerr := e.Observe(ctx, rec.App, rec.Env)
		if oerr != nil {
			rec.Error += "; could not observe hosts: " + oerr.Error()
		}
		for _, o := range observed {
			h := rec.Host(o.Host)
			if h == nil {
				rec.Hosts = append(rec.Hosts, o)
				continue
			}
			h.Current = o.Current
			if o.State != "" { // not observed: unreachable or refused
				h.State, h.Error = o.State, o.Error
			}
		}
		if err := e.store.PutRecord(ctx, rec); err != nil {
			_ = lease.Release(ctx)
			return out, fmt.Errorf("recover %s: %w", rec.ID, err)
		}
		if err := lease.Release(ctx); err != nil {
			e.log.Warn("release recovery lease", "deploy", rec.ID, "err", err)
		}
		e.log.Warn("deploy interrupted", "deploy", rec.ID, "app", rec.App, "env", rec.Env)
		out = append(out, rec)
	}
	return out, nil
}
