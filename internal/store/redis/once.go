package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

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
// holds that token, that is, only if this call set it. An empty token is
// an error of code Invalid.
func (s *Store) SetOnceToken(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if token == "" {
		return false, errs.New(errs.Invalid, "set once %s: empty token", key)
	}
	return s.setOnce(ctx, key, token, ttl)
}

func (s *Store) setOnce(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("set once %s: %w", key, err)
	}
	if key == "" {
		return false, errs.New(errs.Invalid, "set once: empty key")
	}
	now := s.now()
	expires, px := "0", "0"
	if ttl > 0 {
		expires, px = msCeil(now.Add(ttl)), redisTTL(ttl)
	}
	set, err := s.guarded(ctx, setOnceScript, []string{s.key("once", key)}, ms(now), expires, token, px).Bool()
	if err != nil {
		return false, s.fail(ctx, "set once "+key, err)
	}
	return set, nil
}

// ForgetOnce removes key if SetOnceToken set it with token, expired or
// not, and does nothing if the key is absent or holds another token: one
// that a concurrent call set, whose caller may have acted on it. It undoes
// a SetOnceToken whose outcome its caller could not learn (a timeout, a
// lost reply). An empty token is an error of code Invalid.
func (s *Store) ForgetOnce(ctx context.Context, key, token string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("forget once %s: %w", key, err)
	}
	if key == "" || token == "" {
		return errs.New(errs.Invalid, "forget once %q: empty key or token", key)
	}
	if err := forgetOnceScript.Run(ctx, s.rdb, []string{s.key("once", key)}, token).Err(); err != nil {
		return s.fail(ctx, "forget once "+key, err)
	}
	return nil
}

// setOnceScript: ARGV is now, the expiry (0: never), the call's nonce and
// the Redis expiry in milliseconds (0: none). It starts with guard: in a
// store Redis emptied every key is new, and a delivery already handled
// would be handled again.
var setOnceScript = goredis.NewScript(guard + `
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

// forgetOnceScript: compare and delete, ARGV[1] being the token. A resend
// of the same call finds nothing left to delete. It has no guard, as it
// cannot write into an emptied store: it deletes only the key of its
// caller's own SetOnceToken.
var forgetOnceScript = goredis.NewScript(`
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
