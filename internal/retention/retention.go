// Package retention deletes the deploy records and audit entries the store
// has kept longer than the config's store.retention asks.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// Store is where the history lives.
type Store interface {
	TrimRecords(ctx context.Context, before time.Time, keep int) (int, error)
	TrimAudit(ctx context.Context, before time.Time) (int, error)
	AppendAudit(ctx context.Context, e *audit.Entry) error
	// SetOnce sets key for ttl and reports whether it was newly set.
	SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Every is how often the history is trimmed, by one of the processes
// sharing the store.
const Every = time.Hour

// poll is how often Run asks whether a trim is due.
const poll = time.Minute

// dueKey is the SetOnce key whose setting makes a process the one to trim
// until Every passes.
const dueKey = "retention:trim"

// trimTimeout bounds one trim.
const trimTimeout = 5 * time.Minute

// Trimmer deletes what is past its retention. Each trim is itself audited,
// so the trail says why older entries are missing.
type Trimmer struct {
	Store Store
	// Records and Audit are how long each is kept; zero keeps it forever.
	Records, Audit time.Duration
	// Keep is how many records of each app/env stay whatever their age.
	Keep int
	Now  func() time.Time
	Log  *slog.Logger
}

// Enabled reports whether anything is ever trimmed.
func (t *Trimmer) Enabled() bool { return t.Records > 0 || t.Audit > 0 }

// Trim deletes once what is past its retention. Each deletion that
// deleted, may have deleted or failed is audited, as what it was: a trim
// whose store failed part-way, or whose reply was lost, may have deleted
// what the trail then no longer explains otherwise.
func (t *Trimmer) Trim(ctx context.Context) error {
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	var errList []error
	var trims []trim
	if t.Records > 0 {
		cut := now.Add(-t.Records)
		n, err := t.Store.TrimRecords(ctx, cut, t.Keep)
		trims = append(trims, trim{n: n, err: err, one: "deploy record", many: "deploy records",
			which: fmt.Sprintf("that started before %s (the newest %d of each app/env are kept, and the runs that status and rollbacks read)", cut.Format(time.RFC3339), t.Keep)})
	}
	if t.Audit > 0 {
		cut := now.Add(-t.Audit)
		n, err := t.Store.TrimAudit(ctx, cut)
		trims = append(trims, trim{n: n, err: err, one: "audit entry", many: "audit entries",
			which: "from before " + cut.Format(time.RFC3339)})
	}
	for _, tr := range trims {
		if tr.err != nil {
			errList = append(errList, tr.err)
		}
		e, ok := tr.entry(now)
		if !ok {
			continue
		}
		if tr.err != nil {
			t.log().Warn("retention: trim failed", "outcome", e.Command, "err", tr.err)
		} else {
			t.log().Info("retention: trimmed the history", "deleted", strings.TrimPrefix(e.Command, "retention: deleted "))
		}
		if err := audit.Append(ctx, t.Store, e); err != nil {
			errList = append(errList, fmt.Errorf("audit the trim: %w", err))
		}
	}
	if err := errors.Join(errList...); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	return nil
}

// trim is what one deletion returned: n deleted for certain, and err.
type trim struct {
	n         int
	err       error
	one, many string // what it deletes, one and many of it
	which     string // which of them: "from before …"
}

// entry is the audit entry of tr, and false when there is none to write:
// nothing deleted, and no error. A failure the store may have applied
// (its reply lost, see deploy.OutcomeUnknown) says what may have been
// deleted, as an unknown outcome; one that stored nothing says what was
// deleted before it, if anything, and that it failed.
func (tr trim) entry(now time.Time) (*audit.Entry, bool) {
	e := &audit.Entry{Time: now, User: config.BotUser, Platform: "retention", Action: "retention", Decision: audit.Event, Reason: "past store.retention"}
	deleted := count(tr.n, tr.one, tr.many) + " " + tr.which
	switch {
	case tr.err == nil && tr.n == 0:
		return nil, false
	case tr.err == nil:
		e.Command = "retention: deleted " + deleted
	case errors.Is(deploy.OutcomeUnknown(tr.err, "", ""), deploy.ErrOutcomeUnknown):
		e.Decision = audit.Unknown
		e.Command = fmt.Sprintf("retention: may have deleted %s %s (the state store's reply was lost)", tr.many, tr.which)
		if tr.n > 0 {
			e.Command = fmt.Sprintf("retention: deleted %s, and may have deleted more (the state store's reply was lost)", deleted)
		}
		e.Reason = fmt.Sprintf("past store.retention; the state store failed to confirm the deletion (%s); tried again in an hour", deploy.StoreReason(tr.err))
	default:
		e.Command = fmt.Sprintf("retention: deleting %s %s failed; none was deleted", tr.many, tr.which)
		if tr.n > 0 {
			e.Command = fmt.Sprintf("retention: deleted %s, then failed", deleted)
		}
		e.Reason = fmt.Sprintf("past store.retention; the state store failed (%s); tried again in an hour", deploy.StoreReason(tr.err))
	}
	return e, true
}

// Run trims at once and then every Every until ctx ends, unless another
// process sharing the store did (replicas, a restart within the hour): it
// asks every minute whether a trim is due, and the store lets one process
// have each. A trim that fails is logged and tried again in an hour. It
// returns nil, at once when nothing is ever trimmed.
func (t *Trimmer) Run(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		// A trim under way when the bot stops is finished: the bot
		// waits for it, and the history is as a trim leaves it.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), trimTimeout)
		due, err := t.Store.SetOnce(tctx, dueKey, Every)
		switch {
		case err != nil:
			t.log().Warn("retention: cannot tell whether a trim is due; asking again in a minute", "err", err)
		case due:
			if err := t.Trim(tctx); err != nil {
				t.log().Error("retention: trim failed; trying again in an hour", "err", err)
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (t *Trimmer) log() *slog.Logger {
	if t.Log == nil {
		return slog.Default()
	}
	return t.Log
}
