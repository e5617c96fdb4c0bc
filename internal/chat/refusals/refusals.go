// Package refusals writes to the audit log, in the background, the chat
// requests an adapter refuses before they reach the command handler (a
// failed duplicate check, a bot that is stopping), so that the answer to
// the requester does not wait for the store.
package refusals

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// Auditor records a refused request; *commands.Service is one.
type Auditor interface {
	AuditRefusal(ctx context.Context, req commands.Request) error
}

// Timeout bounds each write, its tries included (see audit.Append): the
// store may be why the request was refused, and a Redis restarting takes
// a few seconds.
const Timeout = audit.Timeout

// Writer writes refusals in the background. Close waits for the writes
// under way, so that they reach the store before it is closed; a refusal
// written after Close goes on its own, and is logged (Late) before it is
// tried. The zero Writer is not usable: set Auditor and Failed.
type Writer struct {
	Auditor Auditor
	// Failed logs a write that failed.
	Failed func(req commands.Request, err error)
	// Late, when set, logs a refusal written after Close, with what the
	// audit entry would say: nothing waits for its write any more, the
	// bot is stopping and closes the store, and the process may end
	// before the write, or Failed, has run: the log alone keeps it then.
	Late func(req commands.Request)

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Write records req (req.Refused saying why) in the background, within
// Timeout, whatever becomes of ctx.
func (w *Writer) Write(ctx context.Context, req commands.Request) {
	ctx = context.WithoutCancel(ctx)
	w.mu.Lock()
	tracked := !w.closed
	if tracked {
		w.wg.Add(1)
	}
	w.mu.Unlock()
	if !tracked && w.Late != nil {
		w.Late(req)
	}
	go func() {
		if tracked {
			defer w.wg.Done()
		}
		ctx, cancel := context.WithTimeout(ctx, Timeout)
		defer cancel()
		if err := w.Auditor.AuditRefusal(ctx, req); err != nil {
			w.Failed(req, err)
		}
	}()
}

// Close waits for the writes started before it.
func (w *Writer) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wg.Wait()
}

// What the sender of a request, and the audit log, are told when the
// duplicate check found the state store reset under the bot
// (deploy.ErrStoreReset): unlike an unreachable store, trying again does
// not help until the bot is restarted.
const (
	ResetNotice = "The state store was reset (it lost its data, and with it the locks, grants and history), so nothing was run: an admin must restart the bot."
	ResetReason = "state store reset (found by the duplicate check); nothing was run"
)

// StoreReset reports whether err, a duplicate check's, found the state
// store reset.
func StoreReset(err error) bool { return errors.Is(err, deploy.ErrStoreReset) }

// StoreDown returns what the sender of a request whose duplicate check
// failed with err (a store not found reset) is told, without the adapter's
// decoration, and what the audit log is: the store's own reason, as the
// commands' refusals give it (a Redis refusing writes, a store closed as
// the bot stops), "state store unreachable" when it cannot be reached.
func StoreDown(err error) (notice, reason string) {
	why := strings.TrimSuffix(deploy.StoreReason(err), ".")
	return strings.ToUpper(why[:1]) + why[1:] + "; nothing was changed",
		why + " (found by the duplicate check); nothing was run"
}
