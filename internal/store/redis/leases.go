package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
)

// A lease is the key lease:KEY holding "TOKEN|EXPIRES|NONCE|HOLDER":
// EXPIRES in Unix milliseconds of the store's clock, or 0 once released;
// NONCE marks the call that wrote it. fence:KEY holds the last token handed
// out for KEY. That of an app+env lease, one per app+env, never expires;
// that of a lease taken once per run (runFence) expires fenceRetention
// after the lease's own Redis expiry, each Acquire and Renew setting it
// again, so that a long-lived installation does not keep one per deploy
// forever. A write such a fence guards finds it gone only once its lease
// has been over for fenceRetention: it is refused then if its token is
// older than fenceRetention (see fenceFloor).
//
// A token is one more than the last one, and at least the acquirer's clock
// in Unix milliseconds: tokens keep growing even if Redis loses its data.

// fenceRetention is how long the fence of a run's lease (see runFence)
// outlives the lease's Redis expiry.
const fenceRetention = 7 * 24 * time.Hour

// runFence reports whether key is the lease of one run, taken once per
// deploy, whose fence expires: its error watch's, its recovery's.
func runFence(key string) bool {
	return strings.HasPrefix(key, watchstore.LeaseKey("")) || strings.HasPrefix(key, deploy.RecoverLeaseKey(""))
}

// fenceTTL is the Redis expiry of the fence of key leased for ttl, in
// milliseconds; "0" for a fence that never expires.
func fenceTTL(key string, ttl time.Duration) string {
	if !runFence(key) {
		return "0"
	}
	r, _ := strconv.ParseInt(redisTTL(ttl), 10, 64)
	d := time.Duration(r) * time.Millisecond
	if d > time.Duration(math.MaxInt64)-fenceRetention {
		return "0"
	}
	return strconv.FormatInt((d + fenceRetention).Milliseconds(), 10)
}

// fenceFloor is, in Unix milliseconds, what a script takes for the fence
// of a run's lease that has expired: a token is at least its acquirer's
// clock, and such a fence expires only fenceRetention after its lease's
// last expiry, so every token it guarded is older than this, and every
// write under one is refused.
func (s *Store) fenceFloor() string { return ms(s.now().Add(-fenceRetention)) }

// abandonTimeout bounds the cleanup of an Acquire whose outcome is unknown.
const abandonTimeout = 2 * time.Second

// Acquire takes the lease key for holder for ttl. If the key is held and
// has not expired, it returns a *deploy.LeaseHeldError naming the holder,
// even when that is holder itself: a lease is not re-entrant. Every
// successful Acquire of key hands out a token larger than any before it.
//
// If the reply is lost after Redis took the lease (a dropped connection, a
// read timeout), go-redis sends the script again and the script recognises
// the call's own nonce: Acquire returns the lease rather than reporting it
// held by holder. If Acquire fails without knowing whether Redis took the
// lease (the context ended, Redis went away), it gives the lease back if it
// can; otherwise the lease stays taken until ttl passes. When the context
// ended, Acquire returns its error at once and gives the lease back
// behind it.
func (s *Store) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("acquire lease %s: %w", key, deploy.StoreNotRun(ctx))
	}
	switch {
	case key == "":
		return nil, errs.New(errs.Invalid, "acquire lease: empty key")
	case holder == "":
		return nil, errs.New(errs.Invalid, "acquire lease %s: empty holder", key)
	case ttl <= 0:
		return nil, errs.New(errs.Invalid, "acquire lease %s: ttl %v is not positive", key, ttl)
	}
	// Renew is not held back: fencing guards a run already holding one.
	if err := s.clockOK(ctx); err != nil {
		return nil, fmt.Errorf("acquire lease %s: %w", key, err)
	}
	return s.acquire(ctx, key, holder, ttl, nonce())
}

// acquire is Acquire with the call's nonce given: calling it again with the
// same nonce is what a resend of the script does.
func (s *Store) acquire(ctx context.Context, key, holder string, ttl time.Duration, n string) (deploy.Lease, error) {
	now := s.now()
	keys := []string{s.key("lease", key), s.key("fence", key)}
	v, err := s.guarded(ctx, acquireScript, keys, ms(now), msCeil(now.Add(ttl)), n, holder, redisTTL(ttl), fenceTTL(key, ttl)).Result()
	if err != nil {
		werr := s.fail(ctx, "acquire lease "+key, err)
		switch {
		case definite(err) || s.closed.Load():
			// Redis took nothing, or cannot be asked to give it back.
		case ctx.Err() != nil:
			// The caller gave up, most likely on a Redis slow to
			// answer, which would hold up the give-back as well.
			s.abandonBehind(ctx, key, n)
		default:
			if aerr := s.abandon(ctx, key, n); aerr != nil {
				werr = fmt.Errorf("%w (it may stay taken until it expires: %v)", werr, aerr)
			}
		}
		return nil, werr
	}
	a, err := reply(v)
	if err == nil && len(a) >= 2 {
		arg, _ := a[1].(string)
		switch a[0] {
		case "acquired":
			token, perr := strconv.ParseInt(arg, 10, 64)
			if perr == nil {
				return &lease{s: s, key: key, holder: holder, token: token, ttl: ttl}, nil
			}
		case "held":
			return nil, &deploy.LeaseHeldError{Key: key, Holder: arg, Token: heldToken(a)}
		}
	}
	return nil, fmt.Errorf("acquire lease %s: unexpected reply %v", key, v)
}

// heldToken is the holder's token in a "held" reply of acquireScript, 0
// if it has none.
func heldToken(a []any) int64 {
	if len(a) < 3 {
		return 0
	}
	s, _ := a[2].(string)
	tok, _ := strconv.ParseInt(s, 10, 64)
	return tok
}

// Holder returns who holds the lease key, or "" when no one does (never
// taken, released or expired); a reset store's error (ErrStoreReset)
// first, as a lease read empty because Redis lost its data is not free.
// It costs one MULTI of two GETs: the lease and the store's id.
func (s *Store) Holder(ctx context.Context, key string) (string, error) {
	var cur, id *goredis.StringCmd
	cmds, err := await(s, ctx, func(rdb *goredis.Client) ([]goredis.Cmder, error) {
		return rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			cur = p.Get(ctx, s.key("lease", key))
			id = p.Get(ctx, s.idKey())
			return nil
		})
	})
	if err = discarded(cmds, err); err != nil && !errors.Is(err, goredis.Nil) {
		return "", s.fail(ctx, "read lease "+key, err)
	}
	if err := s.checkID("read lease "+key, id); err != nil {
		return "", err
	}
	v, err := cur.Result()
	if errors.Is(err, goredis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", s.fail(ctx, "read lease "+key, err)
	}
	parts := strings.SplitN(v, "|", 4)
	if len(parts) != 4 {
		return "", fmt.Errorf("read lease %s: malformed value", key)
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", fmt.Errorf("read lease %s: malformed expiry %q", key, parts[1])
	}
	if s.now().UnixMilli() >= exp { // a released lease expires at 0
		return "", nil
	}
	return parts[3], nil
}

// abandon deletes the lease key if the call with nonce n took it. It runs
// even if ctx has ended: that may be why the call failed.
func (s *Store) abandon(ctx context.Context, key, n string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abandonTimeout)
	defer cancel()
	if err := s.run(ctx, abandonScript, []string{s.key("lease", key)}, n).Err(); err != nil {
		return s.fail(ctx, "give back lease "+key, err)
	}
	return nil
}

// abandonBehind runs abandon in a goroutine of its own, which Close
// waits for, so that a caller that gave up is not kept waiting for the
// give-back. A give-back that fails is logged: the lease stays taken
// until it expires.
func (s *Store) abandonBehind(ctx context.Context, key, n string) {
	if !s.begin() {
		return // closing: the give-back would fail at once
	}
	go func() {
		defer s.calls.Done()
		if err := s.abandon(ctx, key, n); err != nil {
			s.log.Warn("a lease an acquire given up on may have taken stays taken until it expires",
				"store", s.String(), "lease", key, "err", err)
		}
	}()
}

// acquireScript: ARGV is now, the expiry, the call's nonce, the holder,
// the Redis expiry in milliseconds and that of the fence ("0": none). It
// returns {"acquired", token} or {"held", holder, token}.
var acquireScript = goredis.NewScript(guard + `
local v = redis.call('GET', KEYS[1])
if v then
  local tok, exp, n, h = string.match(v, '^(%d+)|(%d+)|([^|]*)|(.*)$')
  if not tok then
    return redis.error_reply('malformed lease ' .. KEYS[1])
  end
  if n == ARGV[3] then
    return {'acquired', tok}
  end
  if tonumber(ARGV[1]) < tonumber(exp) then
    return {'held', h, tok}
  end
end
local now = tonumber(ARGV[1])
local tok = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
if tok < now then
  tok = now
end
tok = string.format('%.0f', tok)
if ARGV[6] == '0' then
  redis.call('SET', KEYS[2], tok)
else
  redis.call('SET', KEYS[2], tok, 'PX', ARGV[6])
end
redis.call('SET', KEYS[1], tok .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4], 'PX', ARGV[5])
return {'acquired', tok}
`)

// abandonScript deletes the lease KEYS[1] if the call of nonce ARGV[1]
// took it. No guard: a store Redis emptied holds no lease of that call.
var abandonScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.match(v, '^%d+|%d+|([^|]*)|') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// lease is one acquisition of a key. It is safe for concurrent use.
type lease struct {
	s      *Store
	key    string
	holder string
	token  int64
	ttl    time.Duration
}

func (l *lease) Token() int64 { return l.token }

func (l *lease) redisKey() string { return l.s.key("lease", l.key) }

func (l *lease) tokenArg() string { return strconv.FormatInt(l.token, 10) }

// lost returns the error wrapping deploy.ErrLeaseLost for what a script or
// Check found: "gone", "released", "taken" (by holder, with token) or
// "expired" (at Unix milliseconds).
func (l *lease) lost(what string, args ...string) error {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return "?"
	}
	name := fmt.Sprintf("lease %s (token %d) of %s", l.key, l.token, l.holder)
	switch what {
	case "gone":
		return fmt.Errorf("%s: released or expired: %w", name, deploy.ErrLeaseLost)
	case "released":
		return fmt.Errorf("%s: released: %w", name, deploy.ErrLeaseLost)
	case "taken":
		return fmt.Errorf("%s taken by %s (token %s): %w", name, arg(0), arg(1), deploy.ErrLeaseLost)
	case "expired":
		at := arg(0)
		if m, err := strconv.ParseInt(at, 10, 64); err == nil {
			at = time.UnixMilli(m).UTC().Format(time.RFC3339)
		}
		return fmt.Errorf("%s expired at %s: %w", name, at, deploy.ErrLeaseLost)
	}
	return fmt.Errorf("%s: unexpected state %q", name, what)
}

// scriptResult turns a lease script's reply into nil ("ok") or an error.
func (l *lease) scriptResult(op string, v any) error {
	a, err := reply(v)
	if err != nil || len(a) == 0 {
		return fmt.Errorf("%s lease %s: unexpected reply %v", op, l.key, v)
	}
	strs := make([]string, len(a))
	for i, x := range a {
		strs[i] = fmt.Sprint(x)
	}
	if strs[0] == "ok" {
		return nil
	}
	return l.lost(strs[0], strs[1:]...)
}

// Check returns nil if the lease is still held, else an error wrapping
// deploy.ErrLeaseLost; a reset store's error (ErrStoreReset) first. It
// costs one MULTI of two GETs: the lease and the store's id.
func (l *lease) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check lease %s: %w", l.key, err)
	}
	var cur, id *goredis.StringCmd
	cmds, err := await(l.s, ctx, func(rdb *goredis.Client) ([]goredis.Cmder, error) {
		return rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			cur = p.Get(ctx, l.redisKey())
			id = p.Get(ctx, l.s.idKey())
			return nil
		})
	})
	if err = discarded(cmds, err); err != nil && !errors.Is(err, goredis.Nil) {
		return l.s.fail(ctx, "check lease "+l.key, err)
	}
	if err := l.s.checkID("check lease "+l.key, id); err != nil {
		return err
	}
	v, err := cur.Result()
	if errors.Is(err, goredis.Nil) {
		return l.lost("gone")
	}
	if err != nil {
		return l.s.fail(ctx, "check lease "+l.key, err)
	}
	parts := strings.SplitN(v, "|", 4)
	if len(parts) != 4 {
		return fmt.Errorf("check lease %s: malformed value", l.key)
	}
	tok, exp, holder := parts[0], parts[1], parts[3]
	switch {
	case tok != l.tokenArg():
		return l.lost("taken", holder, tok)
	case exp == "0":
		return l.lost("released")
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return fmt.Errorf("check lease %s: malformed expiry %q", l.key, exp)
	}
	if l.s.now().UnixMilli() >= e {
		return l.lost("expired", exp)
	}
	return nil
}

// Renew extends the lease to ttl from now. A lease that is no longer held
// returns an error wrapping deploy.ErrLeaseLost and the key is left as it is.
func (l *lease) Renew(ctx context.Context) error {
	if ctx.Err() != nil {
		return fmt.Errorf("renew lease %s: %w", l.key, deploy.StoreNotRun(ctx))
	}
	now := l.s.now()
	v, err := l.s.guarded(ctx, renewScript, []string{l.redisKey(), l.s.key("fence", l.key)},
		l.tokenArg(), ms(now), msCeil(now.Add(l.ttl)), redisTTL(l.ttl), fenceTTL(l.key, l.ttl)).Result()
	if err != nil {
		return l.s.fail(ctx, "renew lease "+l.key, err)
	}
	return l.scriptResult("renew", v)
}

// renewScript: ARGV is the token, now, the new expiry, the Redis expiry
// and that of the fence KEYS[2] ("0": it has none). Sent twice, it
// extends twice from the same now.
var renewScript = goredis.NewScript(guard + `
local v = redis.call('GET', KEYS[1])
if not v then
  return {'gone'}
end
local tok, exp, n, h = string.match(v, '^(%d+)|(%d+)|([^|]*)|(.*)$')
if not tok then
  return redis.error_reply('malformed lease ' .. KEYS[1])
end
if tok ~= ARGV[1] then
  return {'taken', h, tok}
end
if exp == '0' then
  return {'released'}
end
if tonumber(ARGV[2]) >= tonumber(exp) then
  return {'expired', exp}
end
redis.call('SET', KEYS[1], tok .. '|' .. ARGV[3] .. '|' .. n .. '|' .. h, 'PX', ARGV[4])
if ARGV[5] ~= '0' then
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return {'ok'}
`)

// Release frees the key if l still holds it. A lease that is no longer held
// returns an error wrapping deploy.ErrLeaseLost, and a later holder keeps
// the key. An expired lease of l's is deleted all the same. A reset store
// returns its error (ErrStoreReset) and writes nothing.
func (l *lease) Release(ctx context.Context) error {
	if ctx.Err() != nil {
		return fmt.Errorf("release lease %s: %w", l.key, deploy.StoreNotRun(ctx))
	}
	v, err := l.s.guarded(ctx, releaseScript, []string{l.redisKey()},
		l.tokenArg(), ms(l.s.now()), nonce(), replyTTL.Milliseconds()).Result()
	if err != nil {
		return l.s.fail(ctx, "release lease "+l.key, err)
	}
	return l.scriptResult("release", v)
}

// releaseScript: ARGV is the token, now, the call's nonce and how long to
// keep the released key. A released lease stays as "TOKEN|0|NONCE|HOLDER"
// for a while, so that a resend of the same call answers "ok" again while
// a second Release answers "released".
var releaseScript = goredis.NewScript(guard + `
local v = redis.call('GET', KEYS[1])
if not v then
  return {'gone'}
end
local tok, exp, n, h = string.match(v, '^(%d+)|(%d+)|([^|]*)|(.*)$')
if not tok then
  return redis.error_reply('malformed lease ' .. KEYS[1])
end
if tok ~= ARGV[1] then
  return {'taken', h, tok}
end
if exp == '0' then
  if n == ARGV[3] then
    return {'ok'}
  end
  return {'released'}
end
if tonumber(ARGV[2]) >= tonumber(exp) then
  redis.call('DEL', KEYS[1])
  return {'expired', exp}
end
redis.call('SET', KEYS[1], tok .. '|0|' .. ARGV[3] .. '|' .. h, 'PX', ARGV[4])
return {'ok'}
`)
