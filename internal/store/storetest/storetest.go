// Package storetest is the contract every Switchman state store keeps: one
// suite, run by the tests of each implementation (embedded, Redis), so they
// behave the same where it matters.
//
// Expiry (of locks, leases and SetOnce keys) is judged by the clock the
// suite hands to the Factory. The suite never asks what happens at the very
// instant something expires, only before and after, so a store may round
// expiries to its own precision.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

// Store is everything a state store offers.
type Store interface {
	deploy.Store
	deploy.Leaser
	// The cars aboard deploy trains and their schedules' bookkeeping.
	trainstore.Store
	// The error watches after deploys that are running.
	watchstore.Store

	// MarkUndelivered sets Undelivered of the record with id to n and
	// changes nothing else of it; an error wrapping deploy.ErrNotFound
	// if there is no such record.
	MarkUndelivered(ctx context.Context, id string, n deploy.Undelivered) error

	// PutLock stores l, replacing the lock of the same scope (App, Env).
	PutLock(ctx context.Context, l deploy.Lock) error
	// ReplaceLock stores next, in one step, if the lock of its scope in
	// force is still prev (nil: none; an expired lock counts as none).
	// Otherwise it stores nothing and returns the lock in force (nil:
	// none) and false. Of callers racing from the same prev, one stores
	// its lock.
	ReplaceLock(ctx context.Context, prev *deploy.Lock, next deploy.Lock) (*deploy.Lock, bool, error)
	// DeleteLock removes and returns the lock of scope app/env; an error
	// wrapping deploy.ErrNotFound if there is none in force.
	DeleteLock(ctx context.Context, app, env string) (deploy.Lock, error)
	// Locks returns the locks in force, sorted by App then Env.
	Locks(ctx context.Context) ([]deploy.Lock, error)

	// AppendAudit appends e, setting e.Seq and, if zero, e.Time.
	AppendAudit(ctx context.Context, e *audit.Entry) error
	// Audit returns the entries matching q, newest first.
	Audit(ctx context.Context, q audit.Query) ([]audit.Entry, error)

	// TrimRecords deletes the finished records started before before,
	// except the newest keep of each app+env, an interrupted run no later
	// run resolved, and the records the live run and a rollback from it
	// read (see deploy.Retained), and returns how many.
	TrimRecords(ctx context.Context, before time.Time, keep int) (int, error)
	// TrimAudit deletes the audit entries timed before before, and
	// returns how many.
	TrimAudit(ctx context.Context, before time.Time) (int, error)

	// Signal leaves value for run id under kind for ttl; SignalFirst
	// leaves it only where no signal is left yet, or returns that one;
	// TakeSignal returns and removes it.
	Signal(ctx context.Context, id, kind, value string, ttl time.Duration) error
	SignalFirst(ctx context.Context, id, kind, value string, ttl time.Duration) (string, bool, error)
	TakeSignal(ctx context.Context, id, kind string) (string, bool, error)

	// SetOnce sets key for ttl and reports whether it was newly set.
	SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// SetOnceToken is SetOnce keeping token with the key; ForgetOnce
	// removes key only while it holds token.
	SetOnceToken(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	ForgetOnce(ctx context.Context, key, token string) error

	// PutGrant stores a runtime grant, replacing one of the same user,
	// role, app and env.
	PutGrant(ctx context.Context, g acl.Grant) error
	// DeleteGrant removes and returns a grant; an error wrapping
	// deploy.ErrNotFound if there is none in force.
	DeleteGrant(ctx context.Context, user, role, app, env string) (acl.Grant, error)
	// Grants returns the grants in force, sorted by user, role, app, env.
	Grants(ctx context.Context) ([]acl.Grant, error)

	// CheckIn marks user present until until; CheckOut ends it.
	CheckIn(ctx context.Context, user string, until time.Time) error
	CheckOut(ctx context.Context, user string) error
	// CheckInIf makes user's check-in end at until, and CheckOutIf ends
	// it, in one step, if the check-in in force still ends at prev (for
	// CheckInIf the zero time is none; an ended check-in counts as
	// none). Otherwise they change nothing and return the end of the
	// check-in in force (zero: none) and false. A write of the caller's
	// that someone else's, made after it read prev, is in the way of is
	// not made: neither an away undone nor a newer check-in overwritten.
	CheckInIf(ctx context.Context, user string, prev, until time.Time) (time.Time, bool, error)
	CheckOutIf(ctx context.Context, user string, prev time.Time) (time.Time, bool, error)
	// Present returns the users checked in now, with the end of each check-in.
	Present(ctx context.Context) (map[string]time.Time, error)
	// CheckInUnder is CheckIn that keeps under with the check-in (see
	// acl.CheckIn), which CheckIns returns; CheckInIf keeps it.
	CheckInUnder(ctx context.Context, user string, until time.Time, under string) error
	CheckIns(ctx context.Context) (map[string]acl.CheckIn, error)
}

// Factory returns a new, empty store whose clock is now. It registers the
// store's cleanup with t.
type Factory func(t *testing.T, now func() time.Time) Store

// Clock is the clock of the stores the suite makes: it moves only when
// told.
type Clock = testclock.Clock

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return testclock.New(t) }

// start is where every store's clock starts.
var start = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// Run runs the contract suite against stores made by newStore. Every
// subtest gets a new store; subtests do not run in parallel, so a factory
// may reuse one server and empty it.
func Run(t *testing.T, newStore Factory) {
	fresh := freshFrom(newStore)
	t.Run("Records", func(t *testing.T) { testRecords(t, fresh) })
	t.Run("Locks", func(t *testing.T) { testLocks(t, fresh) })
	t.Run("ReplaceLock", func(t *testing.T) { testReplaceLock(t, fresh) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, fresh) })
	t.Run("Trim", func(t *testing.T) { testTrim(t, fresh) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, fresh) })
	t.Run("SetOnce", func(t *testing.T) { testSetOnce(t, fresh) })
	t.Run("ForgetOnce", func(t *testing.T) { testForgetOnce(t, fresh) })
	t.Run("Signals", func(t *testing.T) { testSignals(t, fresh) })
	t.Run("Grants", func(t *testing.T) { testGrants(t, fresh) })
	t.Run("Presence", func(t *testing.T) { testPresence(t, fresh) })
	t.Run("PresenceIf", func(t *testing.T) { testPresenceIf(t, fresh) })
	t.Run("CheckInUnder", func(t *testing.T) { testCheckInUnder(t, fresh) })
	t.Run("Trains", func(t *testing.T) { testTrains(t, fresh) })
	t.Run("Watches", func(t *testing.T) { testWatches(t, fresh) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelled(t, fresh) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, fresh) })
}

// RunTrim runs the part of the suite that trims records and audit
// entries: a store that trims in batches runs it again with batches of
// several sizes, so that every trim takes several.
func RunTrim(t *testing.T, newStore Factory) {
	testTrim(t, freshFrom(newStore))
}

type freshFunc func(t *testing.T) (Store, *Clock)

func freshFrom(newStore Factory) freshFunc {
	return func(t *testing.T) (Store, *Clock) {
		t.Helper()
		c := NewClock(start)
		return newStore(t, c.Now), c
	}
}
