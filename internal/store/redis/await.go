package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// await returns what call returns, or, once ctx is done first, ctx's
// error: go-redis stops waiting for a reply only at a deadline (the read
// timeout, or the context's), not when the context is cancelled, so a
// cancelled caller would wait for the read timeout of a Redis that stopped
// answering. What call sent may or may not have been applied then, and
// the error is not Redis's answer (see definite): callers treat it as a
// lost reply. call goes on until go-redis gives up on its own, with its
// connection (which Close closes), and must not share what the caller
// reads after an error. Once Close has begun, a call whose context can
// end is not made: await returns goredis.ErrClosed, as go-redis does
// once closed.
func await[T any](s *Store, ctx context.Context, call func() (T, error)) (T, error) {
	if ctx.Done() == nil || ctx.Err() != nil {
		// Nothing to give up on.
		return call()
	}
	if !s.begin() {
		var zero T
		return zero, goredis.ErrClosed
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer s.calls.Done()
		v, err := call()
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
		var zero T
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
	cmd, err := await(s, ctx, func() (*goredis.Cmd, error) {
		return sc.Run(ctx, s.rdb, keys, args...), nil
	})
	if err != nil {
		cmd = goredis.NewCmd(ctx)
		cmd.SetErr(err)
	}
	return cmd
}
