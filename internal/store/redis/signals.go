package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// Signals live in:
//
//	signal:ID:KIND      "EXPIRY|VALUE", EXPIRY in Unix milliseconds of the
//	                    store's clock, as leases are; Redis drops the key
//	                    some time after
//	signal:taken:NONCE  the signal one TakeSignal took, for a resend of
//	                    the call; expires after replyTTL

// Signal leaves value for run id under kind until ttl passes, replacing
// one left before.
func (s *Store) Signal(ctx context.Context, id, kind, value string, ttl time.Duration) error {
	if ctx.Err() != nil {
		return fmt.Errorf("signal %s %s: %w", kind, id, deploy.StoreNotRun(ctx))
	}
	v := msCeil(s.now().Add(ttl)) + "|" + value
	if err := s.guarded(ctx, setScript, []string{s.key("signal", id, kind)}, v, redisTTL(ttl)).Err(); err != nil {
		return s.fail(ctx, "signal "+kind+" "+id, err)
	}
	return nil
}

// setScript sets KEYS[1] to ARGV[1] for ARGV[2] milliseconds. It starts
// with guard.
var setScript = goredis.NewScript(guard + `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// SignalFirst leaves value for run id under kind until ttl passes, unless
// a signal of kind left for id is still there, neither taken nor expired:
// then it leaves nothing and returns that one's value, and false. Sent
// again after a lost reply, it finds its own value and answers true again.
func (s *Store) SignalFirst(ctx context.Context, id, kind, value string, ttl time.Duration) (string, bool, error) {
	if ctx.Err() != nil {
		return "", false, fmt.Errorf("signal %s %s: %w", kind, id, deploy.StoreNotRun(ctx))
	}
	now := s.now()
	v := msCeil(now.Add(ttl)) + "|" + value
	held, err := s.guarded(ctx, signalFirstScript, []string{s.key("signal", id, kind)}, ms(now), v, redisTTL(ttl)).Text()
	if errors.Is(err, goredis.Nil) {
		return "", true, nil
	}
	if err != nil {
		return "", false, s.fail(ctx, "signal "+kind+" "+id, err)
	}
	_, value, _ = strings.Cut(held, "|")
	return value, false, nil
}

// signalFirstScript: ARGV is now, the value to leave ("EXPIRY|VALUE") and
// the Redis expiry in milliseconds. It returns the signal in the way, or
// nil once ARGV[2] is left. A value equal to ARGV[2] (the expiry the same
// to the millisecond) is this call's own, left by an attempt whose reply
// was lost, or the same answer by the same person: it is left again. It
// starts with guard.
var signalFirstScript = goredis.NewScript(guard + `
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[2] then
  local exp = string.match(v, '^(%d+)|')
  if not exp then
    return redis.error_reply('malformed signal ' .. KEYS[1])
  end
  if tonumber(ARGV[1]) < tonumber(exp) then
    return v
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return false
`)

// TakeSignal returns and removes the signal of kind left for run id, if
// one is there and has not expired: one caller gets it. Sent again after a
// lost reply, it returns the signal it took. A call that failed without a
// clear answer (its deadline passed while Redis ran it, say) may have
// taken the signal all the same: the next call for the same run and kind
// within replyTTL reuses its nonce, and so gets that signal back.
func (s *Store) TakeSignal(ctx context.Context, id, kind string) (string, bool, error) {
	key := id + "\x00" + kind
	now := s.now()
	n := nonce()
	if prev, ok := s.untold.Load(key); ok && now.Sub(prev.(untoldNonce).at) < replyTTL {
		n = prev.(untoldNonce).nonce
	}
	v, ok, err := s.takeSignal(ctx, id, kind, n)
	if err != nil {
		s.forgetUntold(now)
		s.untold.Store(key, untoldNonce{nonce: n, at: now})
		return v, ok, err
	}
	s.untold.Delete(key)
	return v, ok, nil
}

// untoldNonce is the nonce of a TakeSignal that failed without a clear
// answer, and when it failed.
type untoldNonce struct {
	nonce string
	at    time.Time
}

// forgetUntold drops the nonces of calls that failed replyTTL or more
// before now: the signal such a call may have taken is no longer kept
// under it in Redis. Most of them are of runs that ended as Redis was
// unreachable, which no call asks about again: kept, they would pile up
// for as long as the bot runs.
func (s *Store) forgetUntold(now time.Time) {
	s.untold.Range(func(k, v any) bool {
		if now.Sub(v.(untoldNonce).at) >= replyTTL {
			s.untold.CompareAndDelete(k, v)
		}
		return true
	})
}

// takeSignal is TakeSignal with the call's nonce.
func (s *Store) takeSignal(ctx context.Context, id, kind, n string) (string, bool, error) {
	if ctx.Err() != nil {
		return "", false, fmt.Errorf("take signal %s %s: %w", kind, id, deploy.StoreNotRun(ctx))
	}
	keys := []string{s.key("signal", id, kind), s.key("signal", "taken", n)}
	v, err := s.guarded(ctx, takeScript, keys, replyTTL.Milliseconds()).Text()
	if errors.Is(err, goredis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, s.fail(ctx, fmt.Sprintf("take signal %s %s", kind, id), err)
	}
	exp, value, ok := strings.Cut(v, "|")
	e, perr := strconv.ParseInt(exp, 10, 64)
	if !ok || perr != nil {
		return "", false, fmt.Errorf("take signal %s %s: malformed value", kind, id)
	}
	if s.now().UnixMilli() >= e {
		return "", false, nil
	}
	return value, true, nil
}

// takeScript deletes the signal KEYS[1] and returns it, or nil if there is
// none; KEYS[2] keeps a signal taken for a resend of the call, for ARGV[1]
// milliseconds. A run asks often and mostly finds nothing, so nothing
// found writes nothing: a resend of such a call may take a signal left
// since, which its caller then gets, still once. It starts with guard: a
// signal is no more found in a store Redis emptied than a lock is.
var takeScript = goredis.NewScript(guard + `
local done = redis.call('GET', KEYS[2])
if done then
  return done
end
local v = redis.call('GET', KEYS[1])
if v then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], v, 'PX', ARGV[1])
end
return v
`)
