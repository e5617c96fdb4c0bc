// Package cluster lets several bot replicas share the work that must happen
// once: a leader lease picks the replica that runs scheduled jobs, and a
// recovery loop notices deploys whose replica died.
package cluster

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// LeaderKey is the lease the scheduling leader holds.
const LeaderKey = "leader:scheduler"

// Leader holds the scheduler lease while it can. It is safe for concurrent
// use: IsLeader may be called from any goroutine while Run runs.
type Leader struct {
	Leases deploy.Leaser
	// ID names this replica (hostname:pid); it is the lease's holder.
	ID string
	// TTL is how long the lease lives unless renewed; default 15 s. A
	// replica that dies is replaced within TTL.
	TTL time.Duration
	Log *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu    sync.Mutex
	lease deploy.Lease
	// until is when the lease runs out at the earliest: TTL after the
	// start of its last successful acquire or renewal. A replica paused
	// past it (GC, a stopped VM) may have been replaced.
	until time.Time
	// unsure is a lease whose renewal failed without saying it was lost
	// (a timeout): it may still be this replica's, and no other can take
	// it until it expires, so it is renewed again rather than forgotten.
	// Meanwhile this replica does not lead.
	unsure deploy.Lease
	// reset is set once the store was found reset: the lease went with
	// its data, and the store refuses every call until the bot restarts,
	// so this replica stops leading and stops asking.
	reset bool
}

func (l *Leader) ttl() time.Duration {
	if l.TTL <= 0 {
		return 15 * time.Second
	}
	return l.TTL
}

// IsLeader reports whether this replica holds the lease now: it renewed
// it, and not so long ago that it may have run out since. Without the
// second, a replica that woke from a pause led next to the one that took
// over, until its next renewal said otherwise.
func (l *Leader) IsLeader() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lease != nil && l.now().Before(l.until)
}

func (l *Leader) now() time.Time {
	if l.Now == nil {
		return time.Now()
	}
	return l.Now()
}

// Run tries to take the lease and keeps renewing it until ctx is done, then
// releases it. Losing the lease (the store was unreachable past the TTL, a
// long pause) makes IsLeader false at once; Run keeps trying to take it back.
func (l *Leader) Run(ctx context.Context) error {
	tick := time.NewTicker(l.ttl() / 3)
	defer tick.Stop()
	defer l.release()
	for {
		l.step(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (l *Leader) step(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, l.ttl()/3)
	defer cancel()
	l.mu.Lock()
	lease, unsure, reset := l.lease, l.unsure, l.reset
	l.mu.Unlock()
	if reset {
		return
	}
	if held := cmp.Or(lease, unsure); held != nil {
		start := l.now()
		err := held.Renew(ctx)
		l.mu.Lock()
		l.lease, l.unsure = nil, nil
		switch {
		case err == nil:
			l.lease, l.until = held, start.Add(l.ttl())
		case errors.Is(err, deploy.ErrStoreReset):
			l.reset = true
		case !errors.Is(err, deploy.ErrLeaseLost):
			l.unsure = held
		}
		l.mu.Unlock()
		switch {
		case errors.Is(err, deploy.ErrStoreReset):
			// Not "until it is renewed": no renewal can bring back a
			// lease the store lost with its data.
			l.logger().Error(resetNote, "replica", l.ID, "err", err)
			return
		case err == nil && unsure != nil:
			l.logger().Info("this replica runs scheduled jobs again", "replica", l.ID)
		case errors.Is(err, deploy.ErrLeaseLost) && lease != nil:
			l.logger().Warn("lost the scheduler lease", "replica", l.ID, "err", err)
		case err != nil && lease != nil:
			l.logger().Warn("could not renew the scheduler lease; not running scheduled jobs until it is", "replica", l.ID, "err", err)
		}
		if err == nil || !errors.Is(err, deploy.ErrLeaseLost) {
			return
		}
	}
	start := l.now()
	lease, err := l.Leases.Acquire(ctx, LeaderKey, l.ID, l.ttl())
	switch {
	case err == nil:
		l.logger().Info("this replica runs scheduled jobs", "replica", l.ID)
		l.mu.Lock()
		l.lease, l.until = lease, start.Add(l.ttl())
		l.mu.Unlock()
	case errors.Is(err, deploy.ErrStoreReset):
		// Said once: asked again every third of the TTL, the store
		// would refuse each time until the bot restarts.
		l.mu.Lock()
		l.reset = true
		l.mu.Unlock()
		l.logger().Error(resetNote, "replica", l.ID, "err", err)
	case errors.Is(err, deploy.ErrClockSkew):
		// Said once by the store, not every third of the TTL.
	case !errors.Is(err, deploy.ErrLeaseHeld):
		l.logger().Warn("take the scheduler lease", "replica", l.ID, "err", err)
	}
}

// resetNote is what a replica logs, once, on finding the store reset.
const resetNote = "the state store was reset: this replica runs no scheduled jobs until the bot restarts"

func (l *Leader) release() {
	l.mu.Lock()
	lease := cmp.Or(l.lease, l.unsure)
	l.lease, l.unsure = nil, nil
	l.mu.Unlock()
	if lease == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lease.Release(ctx); err != nil {
		l.logger().Warn("release the scheduler lease", "replica", l.ID, "err", err)
	}
}

func (l *Leader) logger() *slog.Logger {
	if l.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Log
}

// Recoverer finds deploys whose process died; *deploy.Engine implements it.
type Recoverer interface {
	Recover(ctx context.Context) ([]*deploy.Record, error)
}

// WatchInterrupted calls Recover every interval until ctx is done and hands
// each deploy it marked interrupted to report. Any replica may run it: a
// deploy's lease only becomes free when its replica stopped renewing it,
// and Recover takes that lease before touching the record. A store found
// reset ends it, said once: the store refuses every call until the bot
// restarts, and asked again every interval it filled the log with the
// same warning for as long as the replica ran.
func WatchInterrupted(ctx context.Context, r Recoverer, interval time.Duration, log *slog.Logger, report func(*deploy.Record)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		recs, err := r.Recover(ctx)
		for _, rec := range recs {
			report(rec)
		}
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, deploy.ErrStoreReset):
			log.Error(recoverResetNote, "err", err)
			return
		default:
			// A skewed clock is said once by the store, not every
			// round; what failed besides it is said.
			if err := Unsaid(err); err != nil {
				log.Warn("look for interrupted deploys", "err", err)
			}
		}
	}
}

// Unsaid returns err without its refusals for a skewed clock, which the
// store says once itself, nil when it holds nothing else. An error that
// joins several failures keeps every other: testing the whole with
// errors.Is for the skew dropped them unsaid.
func Unsaid(err error) error {
	if err == nil || !errors.Is(err, deploy.ErrClockSkew) {
		return err
	}
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		var rest []error
		for _, one := range e.Unwrap() {
			if one = Unsaid(one); one != nil {
				rest = append(rest, one)
			}
		}
		return errors.Join(rest...)
	case interface{ Unwrap() error }:
		if Unsaid(e.Unwrap()) == nil {
			return nil
		}
		return err // its own words around what else failed
	}
	return nil
}

// recoverResetNote is what WatchInterrupted logs, once, on finding the
// store reset.
const recoverResetNote = "the state store was reset: this replica looks for no interrupted deploys until the bot restarts"
