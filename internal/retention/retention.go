// Package retention deletes the deploy records and audit entries the store
// has kept longer than the config's store.retention asks.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/config"
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

// Trim deletes once what is past its retention.
func (t *Trimmer) Trim(ctx context.Context) error {
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	var errList []error
	var trimmed []string
	if t.Records > 0 {
		n, err := t.Store.TrimRecords(ctx, now.Add(-t.Records), t.Keep)
		if err != nil {
			errList = append(errList, err)
		}
		if n > 0 {
			trimmed = append(trimmed, fmt.Sprintf("%s that started before %s (the newest %d of each app/env are kept, and the runs that status and rollbacks read)", count(n, "deploy record", "deploy records"), now.Add(-t.Records).Format(time.RFC3339), t.Keep))
		}
	}
	if t.Audit > 0 {
		n, err := t.Store.TrimAudit(ctx, now.Add(-t.Audit))
		if err != nil {
			errList = append(errList, err)
		}
		if n > 0 {
			trimmed = append(trimmed, fmt.Sprintf("%s from before %s", count(n, "audit entry", "audit entries"), now.Add(-t.Audit).Format(time.RFC3339)))
		}
	}
	for _, what := range trimmed {
		t.log().Info("retention: trimmed the history", "deleted", what)
		e := &audit.Entry{Time: now, User: config.BotUser, Platform: "retention", Command: "retention: deleted " + what,
			Action: "retention", Decision: audit.Event, Reason: "past store.retention"}
		if err := audit.Append(ctx, t.Store, e); err != nil {
			errList = append(errList, fmt.Errorf("audit the trim: %w", err))
		}
	}
	if err := errors.Join(errList...); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	return nil
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
