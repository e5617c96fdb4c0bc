package redis

import (
	"context"
	"fmt"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// await runs call on the client of a free lane (see lanes.go) and returns
// what it returns, or, once ctx is done first, ctx's error: go-redis stops
// waiting for a reply only at a deadline (the read timeout, or the
// context's), not when the context is cancelled, so a cancelled caller
// would wait for the read timeout of a Redis that stopped answering. What
// call sent may or may not have been applied then, and the error is not
// Redis's answer (see definite): callers treat it as a lost reply. The
// connection of the lane is closed then, so call ends at once and the lane
// is free for the next call; call must not share what the caller reads
// after an error. Once Close has begun, a call whose context can end is
// not made: await returns goredis.ErrClosed, as go-redis does once closed.
func await[T any](s *Store, ctx context.Context, call func(rdb *goredis.Client) (T, error)) (T, error) {
	var zero T
	if ctx.Done() == nil || ctx.Err() != nil {
		// Nothing to give up on.
		l, err := s.take(ctx)
		if err != nil {
			return zero, err
		}
		defer s.give(l)
		return call(l.rdb)
	}
	if !s.begin() {
		return zero, goredis.ErrClosed
	}
	l, err := s.take(ctx)
	if err != nil {
		s.calls.Done()
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	// ended is set, under mu, once call returned: the lane may be
	// another call's from then on, and is not cut.
	var mu sync.Mutex
	ended := false
	go func() {
		defer s.calls.Done()
		v, err := call(l.rdb)
		mu.Lock()
		ended = true
		mu.Unlock()
		s.give(l)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-ch:
			return r.v, r.err
		default:
		}
		mu.Lock()
		if !ended {
			l.cut()
		}
		mu.Unlock()
		return zero, fmt.Errorf("%w before Redis answered: the command may or may not have been applied", ctx.Err())
	}
}

// begin counts a call that may outlive its caller in s.calls, for Close to
// wait for, and reports whether it may start: once Close has begun, none
// may. The check and the count are one step under s.mu, which Close takes
// to set s.closing before it waits: a call counted while Close waits
// would race its Wait (sync.WaitGroup forbids an Add from zero then),
// and one counted after the Wait returned would outlive Close.
func (s *Store) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.calls.Add(1)
	return true
}

// run runs sc as Script.Run does, given up on as await says.
func (s *Store) run(ctx context.Context, sc *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	cmd, err := await(s, ctx, func(rdb *goredis.Client) (*goredis.Cmd, error) {
		return sc.Run(ctx, rdb, keys, args...), nil
	})
	if err != nil {
		cmd = goredis.NewCmd(ctx)
		cmd.SetErr(err)
	}
	return cmd
}
