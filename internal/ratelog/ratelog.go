// Package ratelog bounds how often a log line of one kind is written: the
// HTTP endpoints log every request they refuse, and anyone who can reach
// the listener can send refused requests as fast as they like.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is Limiter.Every's default.
const DefaultEvery = 5 * time.Second

// Limiter lets through one log line of each kind per Every, the first of
// them at once, and counts the lines of that kind it holds back. A line
// written after some were held back says how many ("suppressed"): the
// next one let through, or else, when the window in which Warn held them
// back ends, the last of them, written then. So a burst that stops is
// reported as well as one that goes on, every line stands for itself and
// the suppressed ones before it, and a report begins a window as a line
// let through does. Lines held back are not counted anywhere else; what
// must count every event (metrics, the audit log) counts it apart.
//
// The zero value is usable: one line per DefaultEvery by the system
// clock. It is safe for concurrent use, so one Limiter can serve every
// endpoint, each with a kind of its own. It keeps no logger of its own:
// a report goes to the logger of the line it writes.
type Limiter struct {
	// Every is the least time between two lines of one kind; default
	// DefaultEvery. Set it before the first line.
	Every time.Duration
	// Now is the clock the windows are measured by; default time.Now.
	// The end of a window in which lines were held back is awaited on
	// the system's clock and then checked by Now, from the timer's
	// goroutine: Now must be safe for concurrent use.
	Now func() time.Time

	mu    sync.Mutex
	kinds map[string]*kind // the kinds are the callers' constants: bounded
}

type kind struct {
	last time.Time // when the window began: a line written
	held int       // lines held back since

	// The last line Warn held back, written when the window ends unless
	// a line let through first says how many were held back.
	log  *slog.Logger
	msg  string
	args []any

	// timer awaits the window's end, from the first line Warn holds back
	// in it; nil when no line awaits. armed tells a timer that fired
	// after it was stopped or replaced from the one that is due.
	timer *time.Timer
	armed uint64
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Limiter) every() time.Duration {
	if l.Every <= 0 {
		return DefaultEvery
	}
	return l.Every
}

// kind returns name's state, and whether a line of it was seen before;
// l.mu is held.
func (l *Limiter) kind(name string) (k *kind, seen bool) {
	if l.kinds == nil {
		l.kinds = map[string]*kind{}
	}
	k, seen = l.kinds[name]
	if !seen {
		k = &kind{}
		l.kinds[name] = k
	}
	return k, seen
}

// holds reports whether a line of k at t falls in the window of the last
// line written; l.mu is held. A clock set back ends the window rather
// than silence the kind until it catches up.
func (l *Limiter) holds(k *kind, t time.Time) bool {
	return t.Sub(k.last) < l.every() && !t.Before(k.last)
}

// begin starts a window at t with a line written, which says how many
// were held back before it: no other line is to say it; l.mu is held.
func (k *kind) begin(t time.Time) {
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	k.last, k.held = t, 0
	k.log, k.msg, k.args = nil, "", nil
}

// Allow reports whether a line of kind may be written now and, when it
// may, how many lines of kind were held back since the last one written.
// A line it holds back is only counted: unlike Warn's, it is not written
// when the window ends.
func (l *Limiter) Allow(name string) (ok bool, held int) {
	t := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k, seen := l.kind(name)
	if seen && l.holds(k, t) {
		k.held++
		return false, 0
	}
	held = k.held
	k.begin(t)
	return true, held
}

// Warn writes msg with args at WARN to log when Allow would let a line of
// kind through, with "suppressed" and the number of lines held back
// before it when there were some. A line it holds back is written to its
// log, with that number, when the window ends, unless another line of
// kind is held back or let through before then.
func (l *Limiter) Warn(log *slog.Logger, name, msg string, args ...any) {
	t := l.now()
	l.mu.Lock()
	k, seen := l.kind(name)
	if seen && l.holds(k, t) {
		k.held++
		// A copy: the caller may use its slice again.
		k.log, k.msg, k.args = log, msg, append(k.args[:0], args...)
		if k.timer == nil {
			l.arm(k, l.every()-t.Sub(k.last))
		}
		l.mu.Unlock()
		return
	}
	held := k.held
	k.begin(t)
	l.mu.Unlock()
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	log.Log(context.Background(), slog.LevelWarn, msg, args...)
}

// arm starts k's timer for the end of its window, d from now; l.mu is
// held.
func (l *Limiter) arm(k *kind, d time.Duration) {
	k.armed++
	armed := k.armed
	k.timer = time.AfterFunc(d, func() { l.windowEnd(k, armed) })
}

// windowEnd writes the last line held back in k's window, with the
// number held back before it, when that window is over by Now.
func (l *Limiter) windowEnd(k *kind, armed uint64) {
	t := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if k.timer == nil || k.armed != armed {
		return // a line let through since said how many were held back
	}
	k.timer = nil
	if l.holds(k, t) {
		// The timer runs on the system's clock, the window on Now, which
		// may lag it (set back, or a test's clock not moved yet).
		l.arm(k, l.every()-t.Sub(k.last))
		return
	}
	l.report(k, t)
}

// Flush writes at once, for each kind, the last line Warn held back that
// no line has reported yet, as the end of its window would, and stops the
// timers awaiting them: a program that stops calls it so as not to lose
// those lines and their counts.
func (l *Limiter) Flush() {
	t := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.kinds {
		if k.log != nil {
			l.report(k, t)
		}
	}
}

// report writes the last line held back in k's window, with the number
// held back before it, and begins a window at t; l.mu is held, so that a
// line let through meanwhile cannot come before it, and a report under
// way is written by the time Flush returns.
func (l *Limiter) report(k *kind, t time.Time) {
	log, msg, args, before := k.log, k.msg, k.args, k.held-1
	k.begin(t)
	if before > 0 {
		args = append(args, "suppressed", before)
	}
	log.Log(context.Background(), slog.LevelWarn, msg, args...)
}
