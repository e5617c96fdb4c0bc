// Package pause waits for a while unless a context ends first: the retry
// loops, rate limiters and schedulers of the chat adapters, the Sentry
// client and the train scheduler all need it.
package pause

import (
	"context"
	"time"
)

// For waits d and returns nil, or returns ctx's error as soon as ctx is
// done. A d of zero or less returns at once: nil, unless ctx is done.
func For(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
