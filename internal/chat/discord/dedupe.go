package discord

import (
	"context"
	"sync"
	"time"
)

// memDedupe is the default Deduper: a set of keys in memory, enough when
// one process receives the interactions. It is safe for concurrent use.
type memDedupe struct {
	now  func() time.Time
	mu   sync.Mutex
	seen map[string]time.Time // key → expiry
}

func newMemDedupe(now func() time.Time) *memDedupe {
	return &memDedupe{now: now, seen: map[string]time.Time{}}
}

// memDedupeSweep is the size at which expired keys are swept.
const memDedupeSweep = 1024

func (d *memDedupe) SetOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if exp, ok := d.seen[key]; ok && now.Before(exp) {
		return false, nil
	}
	if len(d.seen) >= memDedupeSweep {
		for k, exp := range d.seen {
			if !now.Before(exp) {
				delete(d.seen, k)
			}
		}
	}
	d.seen[key] = now.Add(ttl)
	return true, nil
}
