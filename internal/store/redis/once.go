package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// SetOnce sets key for ttl and reports whether it was newly set: true if
// the key was absent or had expired, false if it is still set. A ttl of
// zero or less sets the key for good.
//
// The key is once:KEY, holding "EXPIRY|NONCE" (EXPIRY in Unix milliseconds
// of the store's clock, 0 for never); a resend of the same call finds its
// own nonce and answers true again.
func (s *Store) SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return s.setOnce(ctx, key, nonce(), ttl)
}

// SetOnceToken is SetOnce with token, which the caller makes unique to
// the call, as the key's nonce: ForgetOnce removes the key only while it
// holds that token, that is, only if this call set it. Once ForgetOnce was
// called with token, a SetOnceToken with it sets nothing and answers
// false, however late Redis runs it. An empty token is an error of code
// Invalid.
func (s *Store) SetOnceToken(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if token == "" {
		return false, errs.New(errs.Invalid, "set once %s: empty token", key)
	}
	return s.setOnce(ctx, key, token, ttl)
}

func (s *Store) setOnce(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if ctx.Err() != nil {
		return false, fmt.Errorf("set once %s: %w", key, deploy.StoreNotRun(ctx))
	}
	if key == "" {
		return false, errs.New(errs.Invalid, "set once: empty key")
	}
	now := s.now()
	expires, px := "0", "0"
	if ttl > 0 {
		expires, px = msCeil(now.Add(ttl)), redisTTL(ttl)
	}
	keys := []string{s.key("once", key), s.forgottenKey(key, token)}
	set, err := s.guarded(ctx, setOnceScript, keys, ms(now), expires, token, px).Bool()
	if err != nil {
		return false, s.fail(ctx, "set once "+key, err)
	}
	return set, nil
}

// ForgetOnce removes key if SetOnceToken set it with token, expired or
// not, and leaves it if it holds another token: one that a concurrent call
// set, whose caller may have acted on it. It undoes a SetOnceToken whose
// outcome its caller could not learn (a timeout, a lost reply). That call
// may not have reached Redis yet (its request delayed on the network, on
// a connection of its own): so ForgetOnce also marks token forgotten, for
// forgottenTTL, and the call sets nothing if it runs later. An empty
// token is an error of code Invalid.
func (s *Store) ForgetOnce(ctx context.Context, key, token string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("forget once %s: %w", key, deploy.StoreNotRun(ctx))
	}
	if key == "" || token == "" {
		return errs.New(errs.Invalid, "forget once %q: empty key or token", key)
	}
	keys := []string{s.key("once", key), s.forgottenKey(key, token)}
	if err := s.run(ctx, forgetOnceScript, keys, token, forgottenTTL.Milliseconds()).Err(); err != nil {
		return s.fail(ctx, "forget once "+key, err)
	}
	return nil
}

// forgottenTTL is how long ForgetOnce's mark outlives it. A SetOnceToken
// that runs later still is one whose request spent that long on its way,
// after its caller gave up: Linux stops sending a connection's data again,
// and drops the connection, after about 15 minutes without an
// acknowledgement (tcp_retries2 = 15), and the client sends nothing for a
// call once it has returned. An hour is four times that, and also past
// the last time Sentry sends a refused delivery again (three times, five
// minutes apart), after which a key set late drops no resend. A mark is a
// few bytes, and only calls given up on leave one.
const forgottenTTL = time.Hour

// forgottenKey is the key of ForgetOnce's mark for key and token:
// once-forgotten:LEN:KEY:TOKEN, LEN being KEY's length in bytes, so that
// no other key and token, either holding a colon, name the same.
func (s *Store) forgottenKey(key, token string) string {
	return s.key("once-forgotten", strconv.Itoa(len(key)), key, token)
}

// setOnceScript: KEYS are the key and the mark of its nonce forgotten;
// ARGV is now, the expiry (0: never), the call's nonce and the Redis
// expiry in milliseconds (0: none). It starts with guard: in a store Redis
// emptied every key is new, and a delivery already handled would be
// handled again. A forgotten nonce is a call given up on: it must not set
// the key, which would drop the next delivery of it as a duplicate.
var setOnceScript = goredis.NewScript(guard + `
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local v = redis.call('GET', KEYS[1])
if v then
  local exp, n = string.match(v, '^(%d+)|(.*)$')
  if not exp then
    return redis.error_reply('malformed once key ' .. KEYS[1])
  end
  if n == ARGV[3] then
    return 1
  end
  exp = tonumber(exp)
  if exp == 0 or tonumber(ARGV[1]) < exp then
    return 0
  end
end
if ARGV[4] == '0' then
  redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[3], 'PX', ARGV[4])
end
return 1
`)

// forgetOnceScript: marks the token forgotten (KEYS[2], for ARGV[2]
// milliseconds), whatever the key holds, then compares and deletes,
// ARGV[1] being the token. A resend of the same call finds nothing left to
// delete. It has no guard: it deletes only the key of its caller's own
// SetOnceToken, and a mark it leaves in an emptied store stops only that
// call, which the caller gave up on, and expires.
var forgetOnceScript = goredis.NewScript(`
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
local v = redis.call('GET', KEYS[1])
if not v then
  return 0
end
local exp, n = string.match(v, '^(%d+)|(.*)$')
if n ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
`)
