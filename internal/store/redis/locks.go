package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// Locks live in one hash, locks: lockField(App, Env) → the lock as JSON.
// Redis cannot expire a hash field by itself (before 7.4), and the expiry
// follows the store's clock anyway: expired locks are dropped when listed
// or deleted.

// lockField is app NUL env: byte order is scope order, App then Env, the
// empty (wider) scope first.
func lockField(app, env string) string { return app + "\x00" + env }

// PutLock stores l, replacing the lock of the same scope (App, Env).
func (s *Store) PutLock(ctx context.Context, l deploy.Lock) error {
	if ctx.Err() != nil {
		return fmt.Errorf("put lock %s: %w", l.Scope(), deploy.StoreNotRun(ctx))
	}
	if strings.ContainsRune(l.App, 0) || strings.ContainsRune(l.Env, 0) {
		return errs.New(errs.Invalid, "put lock: app and env must not contain NUL")
	}
	data, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("put lock %s: %w", l.Scope(), err)
	}
	if err := s.guarded(ctx, putFieldScript, []string{s.key("locks")}, lockField(l.App, l.Env), data).Err(); err != nil {
		return s.fail(ctx, "put lock "+l.Scope(), err)
	}
	return nil
}

// putFieldScript sets field ARGV[1] of hash KEYS[1] to ARGV[2]. It starts
// with guard: a lock or grant written into a store Redis emptied would
// stand alone there, every other lock gone, as if the store were sound.
var putFieldScript = goredis.NewScript(guard + `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// deleteFieldScript deletes field ARGV[1] of hash KEYS[1]. It starts with
// guard.
var deleteFieldScript = goredis.NewScript(guard + `
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`)

// ReplaceLock stores next if the lock of its scope in force is still prev
// (nil: none; an expired lock counts as none), in one script. Otherwise
// it stores nothing and returns the lock in force (nil: none) and false.
// A reset store returns its error (ErrStoreReset) and stores nothing: its
// empty hash is not "none".
func (s *Store) ReplaceLock(ctx context.Context, prev *deploy.Lock, next deploy.Lock) (*deploy.Lock, bool, error) {
	scope := next.Scope()
	if ctx.Err() != nil {
		return nil, false, fmt.Errorf("replace lock %s: %w", scope, deploy.StoreNotRun(ctx))
	}
	if strings.ContainsRune(next.App, 0) || strings.ContainsRune(next.Env, 0) {
		return nil, false, errs.New(errs.Invalid, "replace lock: app and env must not contain NUL")
	}
	if prev != nil && (prev.App != next.App || prev.Env != next.Env) {
		return nil, false, errs.New(errs.Invalid, "replace lock: a lock of %s cannot replace one of %s", scope, prev.Scope())
	}
	data, err := json.Marshal(next)
	if err != nil {
		return nil, false, fmt.Errorf("replace lock %s: %w", scope, err)
	}
	now := s.now()
	if prev != nil && !prev.Active(now) {
		// No lock in force is prev; only which one is remains to be said.
		v, err := s.readField(ctx, "replace lock "+scope, s.key("locks"), lockField(next.App, next.Env))
		if err != nil {
			return nil, false, err
		}
		cur, err := lockInForce(v, now)
		if err != nil {
			return nil, false, fmt.Errorf("replace lock %s: %w", scope, err)
		}
		return cur, false, nil
	}
	// The script compares values as stored; whether the value it found is
	// prev all the same (encoded otherwise, or an expired lock for none)
	// is decided here, and then the script is run again, expecting that.
	var expected string
	if prev != nil {
		b, err := json.Marshal(*prev)
		if err != nil {
			return nil, false, fmt.Errorf("replace lock %s: %w", scope, err)
		}
		expected = string(b)
	}
	keys := []string{s.key("locks"), s.key("fence", deploy.LeaseKey(next.App, next.Env))}
	for {
		res, err := s.guarded(ctx, replaceFieldScript, keys, lockField(next.App, next.Env), expected, data, next.Fence).Result()
		if errors.Is(err, goredis.Nil) {
			return nil, true, nil
		}
		if err != nil {
			return nil, false, s.fail(ctx, "replace lock "+scope, err)
		}
		v, isText := res.(string)
		if newest, isInt := res.(int64); isInt {
			return nil, false, fmt.Errorf("replace lock %s: %w", scope, staleLock(newest, next.Fence))
		} else if !isText {
			return nil, false, fmt.Errorf("replace lock %s: unexpected reply %v", scope, res)
		}
		cur, err := lockInForce(v, now)
		if err != nil {
			return nil, false, fmt.Errorf("replace lock %s: %w", scope, err)
		}
		if !sameLock(cur, prev) {
			return cur, false, nil
		}
		expected = v
	}
}

// lockInForce decodes the lock stored as v: nil for none ("") or one
// expired at now.
func lockInForce(v string, now time.Time) (*deploy.Lock, error) {
	if v == "" {
		return nil, nil
	}
	var l deploy.Lock
	if err := json.Unmarshal([]byte(v), &l); err != nil {
		return nil, fmt.Errorf("decode lock: %w", err)
	}
	if !l.Active(now) {
		return nil, nil
	}
	return &l, nil
}

// sameLock reports whether a and b are both none or the same lock.
func sameLock(a, b *deploy.Lock) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// staleLock is the error for a lock written under a lease token older
// than the newest its app+env's lease handed out.
func staleLock(newest, fence int64) error {
	return errs.Wrap(errs.Conflict, deploy.ErrLeaseLost, "the app+env was taken over by lease %d (this lock holds %d)", newest, fence)
}

// replaceFieldScript sets field ARGV[1] of hash KEYS[1] to ARGV[3] if it
// holds ARGV[2] ("" for none), and returns nil; otherwise it returns what
// the field holds. A field holding ARGV[3] already was set by this call,
// sent again after its reply was lost: it is set again. A fencing token
// ARGV[4] other than 0 older than KEYS[2], the newest its lease handed
// out, is refused: the script returns that newest token, as a number, and
// sets nothing. It starts with guard.
var replaceFieldScript = goredis.NewScript(guard + `
local token = tonumber(ARGV[4])
if token > 0 then
  local newest = tonumber(redis.call('GET', KEYS[2]) or '0')
  if newest > token then
    return newest
  end
end
local v = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if v == ARGV[2] or v == ARGV[3] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return false
end
return v
`)

// DeleteLock removes the lock of scope app/env and returns it. If there is
// none, or it has expired (it is deleted all the same), the error wraps
// deploy.ErrNotFound (code NotFound). A reset store returns its error
// (ErrStoreReset) and deletes nothing.
func (s *Store) DeleteLock(ctx context.Context, app, env string) (deploy.Lock, error) {
	scope := deploy.Lock{App: app, Env: env}.Scope()
	if ctx.Err() != nil {
		return deploy.Lock{}, fmt.Errorf("delete lock %s: %w", scope, deploy.StoreNotRun(ctx))
	}
	keys := []string{s.key("locks"), s.key("locks", "deleted", nonce())}
	data, err := s.guarded(ctx, takeFieldScript, keys, lockField(app, env), replyTTL.Milliseconds()).Text()
	if err != nil {
		return deploy.Lock{}, s.fail(ctx, "delete lock "+scope, err)
	}
	if data == "" {
		return deploy.Lock{}, errs.Wrap(errs.NotFound, deploy.ErrNotFound, "no lock on %s", scope)
	}
	var l deploy.Lock
	if err := json.Unmarshal([]byte(data), &l); err != nil {
		return deploy.Lock{}, fmt.Errorf("delete lock %s: decode lock: %w", scope, err)
	}
	if !l.Active(s.now()) {
		return deploy.Lock{}, errs.Wrap(errs.NotFound, deploy.ErrNotFound, "no lock on %s", scope)
	}
	return l, nil
}

// takeFieldScript deletes field ARGV[1] of hash KEYS[1] and returns its
// value, or "" if there was none. KEYS[2] remembers the answer for a resend
// of the call. It starts with guard: a lock or grant missing because Redis
// lost its data must not be answered "none", nor the answer remembered.
var takeFieldScript = goredis.NewScript(guard + `
local done = redis.call('GET', KEYS[2])
if done then
  return done
end
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  v = ''
end
redis.call('SET', KEYS[2], v, 'PX', ARGV[2])
return v
`)

// Locks returns the locks in force, sorted by scope: App, then Env, the
// empty (wider) one first. Expired locks are not returned, and are deleted (see dropExpired).
func (s *Store) Locks(ctx context.Context) ([]deploy.Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	all, err := s.readGate(ctx, "list locks", s.key("locks"))
	if err != nil {
		return nil, err
	}
	now := s.now()
	var (
		active  []deploy.Lock
		expired []any // field, value, field, value, …
	)
	for field, data := range all {
		var l deploy.Lock
		if err := json.Unmarshal([]byte(data), &l); err != nil {
			return nil, fmt.Errorf("list locks: decode lock %q: %w", field, err)
		}
		if l.Active(now) {
			active = append(active, l)
		} else {
			expired = append(expired, field, data)
		}
	}
	s.dropExpired(ctx, "list locks", s.key("locks"), expired)
	slices.SortFunc(active, func(a, b deploy.Lock) int {
		return strings.Compare(lockField(a.App, a.Env), lockField(b.App, b.Env))
	})
	return active, nil
}

// readGate reads the hash key with the store's id, in one MULTI: a hash
// read empty because Redis lost its data is refused, not taken for "no
// lock" (or no grant, watch, check-in).
func (s *Store) readGate(ctx context.Context, op, key string) (map[string]string, error) {
	var all *goredis.MapStringStringCmd
	if err := s.readTx(ctx, op, func(p goredis.Pipeliner) { all = p.HGetAll(ctx, key) }); err != nil {
		return nil, err
	}
	return all.Val(), nil
}

// readField reads field of the hash key with the store's id, in one MULTI,
// and returns "" for none.
func (s *Store) readField(ctx context.Context, op, key, field string) (string, error) {
	var v *goredis.StringCmd
	if err := s.readTx(ctx, op, func(p goredis.Pipeliner) { v = p.HGet(ctx, key, field) }); err != nil {
		return "", err
	}
	if err := v.Err(); err != nil && !errors.Is(err, goredis.Nil) {
		return "", s.fail(ctx, op, err)
	}
	return v.Val(), nil
}

// dropExpired deletes the expired entries a listing of hash key met
// (pairs: field, value, …), each only while it still holds the value
// read. It is housekeeping the listing does on the way, not what it was
// asked for: a Redis that refuses the write (a replica, a primary short of
// the replicas it needs, READONLY or NOREPLICAS) or does not answer it
// leaves them to a later listing, logged, rather than fail the reads, and
// with them every permission check and status while one expired entry is
// there.
func (s *Store) dropExpired(ctx context.Context, op, key string, pairs []any) {
	if len(pairs) == 0 {
		return
	}
	if err := s.run(ctx, dropFieldsScript, []string{key}, pairs...).Err(); err != nil {
		s.log.Warn(op+": expired entries left for a later listing to drop", "store", s.String(), "err", s.fail(ctx, op, err))
	}
}

// dropFieldsScript deletes each field of ARGV (field, value pairs) of
// hash KEYS[1] that still holds the value read: an expired lock or grant
// may have been replaced since. No guard: it deletes only what its caller
// read with the id a moment before, which a store Redis emptied since no
// longer holds.
var dropFieldsScript = goredis.NewScript(`
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 1
`)
