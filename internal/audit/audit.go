// Package audit defines the audit trail entry: one record of every command,
// every decision (allowed or refused, with the reason) and every state change.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// Decision says what the bot decided about a command.
type Decision string

const (
	Allowed Decision = "allowed"
	Refused Decision = "refused"
	// Event marks a state change that is not a user's command (a deploy
	// finished, a lock expired, recovery marked a deploy interrupted).
	Event Decision = "event"
	// Pending marks the entry a command that changes state writes before
	// it acts: who asked what. The entry of its outcome, written once it
	// has run, names it in Intent. A command whose pending entry cannot be
	// written is not run, so nothing changes unaudited.
	Pending Decision = "pending"
	// Unknown is how Fold shows a pending entry whose outcome was never
	// written: the bot stopped, or the store failed, between the two.
	Unknown Decision = "unknown"
)

// UnknownReason is the reason Fold gives an entry whose outcome is
// unknown.
const UnknownReason = "outcome unknown: the command was let through, and no outcome was recorded (the bot stopped or the audit log failed while it ran, or it is still running)"

// Entry is one line of the audit log. Entries are append-only.
type Entry struct {
	// Seq is assigned by the store, increasing.
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	User     string    `json:"user"`
	Platform string    `json:"platform,omitempty"`
	Channel  string    `json:"channel,omitempty"`
	// Command is the text as the user typed it (or a description of the event).
	Command  string   `json:"command"`
	Action   string   `json:"action,omitempty"` // deploy, rollback, lock, …
	App      string   `json:"app,omitempty"`
	Env      string   `json:"env,omitempty"`
	Decision Decision `json:"decision"`
	Reason   string   `json:"reason,omitempty"`
	// DeployID links to a deploy record when the command started one.
	DeployID string `json:"deploy_id,omitempty"`
	// Intent is the Seq of the Pending entry this entry is the outcome
	// of; zero for an entry written alone (and every entry of a log
	// written before pending entries were).
	Intent uint64 `json:"intent,omitempty"`
}

// Query selects audit entries, newest first.
type Query struct {
	App   string
	Since time.Time
	Limit int
}

// Appender appends entries to the audit log.
type Appender interface {
	AppendAudit(ctx context.Context, e *Entry) error
}

const (
	// Tries is how many times Append writes an entry before it gives up.
	Tries = 3
	// Timeout bounds Append, its tries and the waits between them.
	Timeout = 10 * time.Second
)

// retryWaits are the waits before the second and third tries, so that
// the tries cover a few seconds of a store that does not answer (a Redis
// restarting), not only the first second.
var retryWaits = [Tries - 1]time.Duration{time.Second, 3 * time.Second}

// Append writes e with w: the entry of something done, which by then
// cannot be undone, so the end of ctx (a request gone, the bot
// stopping) does not cancel the write, and a store that fails (briefly
// down, a Redis restarting) gets more tries, Tries in all, spread over
// Timeout. A store that was reset (deploy.ErrStoreReset) is not
// tried again: it takes no more writes until the bot restarts; nor is
// one whose disk is full or file at its size limit (deploy.ErrStoreFull):
// neither is undone in the seconds the tries last, and the reply
// waiting for them would come that much later for nothing; nor is one
// that refuses every call until someone acts on it (deploy.ErrStoreUnusable:
// a damaged file, one no longer mapped in memory); nor is one closed as
// the bot stops (deploy.ErrStoreClosed), which never opens again. It
// returns the last try's error.
//
// Every try carries one key (see AppendKey): a store that can tell a try
// it applied already, whose answer was lost, appends the entry once.
func Append(ctx context.Context, w Appender, e *Entry) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	defer cancel()
	ctx = context.WithValue(ctx, appendKey{}, rand.Text())
	var err error
	for try := range Tries {
		if try > 0 {
			t := time.NewTimer(retryWaits[try-1])
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return err
			}
		}
		err = w.AppendAudit(ctx, e)
		if err == nil || errors.Is(err, deploy.ErrStoreReset) || errors.Is(err, deploy.ErrStoreFull) || errors.Is(err, deploy.ErrStoreUnusable) || errors.Is(err, deploy.ErrStoreClosed) {
			return err
		}
	}
	return err
}

// Begin writes the Pending entry of e, the command it records about to
// act, tried as Append tries, and sets e.Intent to its Seq, so that e,
// appended once the command has run, is its outcome. On error nothing is
// to be done: the command must not run.
func Begin(ctx context.Context, w Appender, e *Entry) error {
	p := *e
	p.Seq, p.Decision, p.Reason, p.DeployID, p.Intent = 0, Pending, "", "", 0
	if err := Append(ctx, w, &p); err != nil {
		return err
	}
	e.Intent = p.Seq
	if e.Time.IsZero() {
		// The outcome sorts with its pending entry, right after it.
		e.Time = p.Time
	}
	return nil
}

// Fold returns entries as they are shown, one per command: a Pending
// entry whose outcome is among entries is left out, the outcome standing
// for the command, and one whose outcome is not is shown as Unknown with
// UnknownReason, never as a success. Entries keep their order. An outcome
// is never older than its pending entry, so a query of the newest entries
// that holds a pending entry holds its outcome too, when there is one.
func Fold(entries []Entry) []Entry {
	closed := map[uint64]bool{}
	for _, e := range entries {
		if e.Intent != 0 {
			closed[e.Intent] = true
		}
	}
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		if e.Decision == Pending {
			if closed[e.Seq] {
				continue
			}
			e.Decision, e.Reason = Unknown, UnknownReason
		}
		out = append(out, e)
	}
	return out
}

type appendKey struct{}

// AppendKey returns the key that Append gave ctx, the same for each of
// its tries of one entry, or "" when ctx is none of Append's.
func AppendKey(ctx context.Context) string {
	k, _ := ctx.Value(appendKey{}).(string)
	return k
}

// MarshalLine returns e as one line of the exported log: its JSON, ending
// in a newline, with every character that does not show as text escaped
// (\u009b, \u202e). JSON leaves DEL, the C1 controls and the invisible
// formatting characters raw, and a refused command keeps them as typed:
// read in a terminal, a C1 CSI would drive it and a direction override
// would reorder the line shown. A JSON reader gets the same text back.
func MarshalLine(e Entry) ([]byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode audit entry %d: %w", e.Seq, err)
	}
	out := make([]byte, 0, len(data)+1)
	// Only inside strings can a character outside ASCII be: JSON's own
	// syntax is ASCII, so each is escaped where it stands.
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r < utf8.RuneSelf && r != 0x7f, r != utf8.RuneError && strconv.IsPrint(r):
			out = append(out, data[i:i+n]...)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += n
	}
	return append(out, '\n'), nil
}
