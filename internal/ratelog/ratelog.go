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
// them at once, and counts the lines of that kind it held back: the next
// one let through says how many ("suppressed"). Lines held back are not
// counted anywhere else; what must count every event (metrics, the audit
// log) counts it apart. The zero value is usable: one line per
// DefaultEvery by the system clock. It is safe for concurrent use, so one
// Limiter can serve every endpoint, each with a kind of its own.
type Limiter struct {
	// Every is the least time between two lines of one kind; default
	// DefaultEvery.
	Every time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu    sync.Mutex
	kinds map[string]*kind // the kinds are the callers' constants: bounded
}

type kind struct {
	last time.Time // when a line was last let through
	held int       // lines held back since
}

// Allow reports whether a line of kind may be written now and, when it
// may, how many lines of kind were held back since the last one written.
func (l *Limiter) Allow(name string) (ok bool, held int) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	every := l.Every
	if every <= 0 {
		every = DefaultEvery
	}
	t := now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kinds == nil {
		l.kinds = map[string]*kind{}
	}
	k, seen := l.kinds[name]
	if !seen {
		k = &kind{}
		l.kinds[name] = k
	}
	// A clock set back lets a line through rather than silence the kind
	// until it catches up.
	if seen && t.Sub(k.last) < every && !t.Before(k.last) {
		k.held++
		return false, 0
	}
	held, k.held, k.last = k.held, 0, t
	return true, held
}

// Warn writes msg with args at WARN to log when Allow lets a line of kind
// through, with "suppressed" and the number of lines held back before it
// when there were some.
func (l *Limiter) Warn(log *slog.Logger, kind, msg string, args ...any) {
	ok, held := l.Allow(kind)
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	log.Log(context.Background(), slog.LevelWarn, msg, args...)
}
