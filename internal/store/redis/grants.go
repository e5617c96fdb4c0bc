package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// Runtime grants live in one hash, grants: grantField(User, Role, App,
// Env) → the grant as JSON; expired ones are dropped when listed or
// deleted. Presence lives in the hash presence: user → the end of the
// check-in (RFC 3339); ended ones are dropped when listed.

func grantField(user, role, app, env string) string {
	return user + "\x00" + role + "\x00" + app + "\x00" + env
}

// PutGrant stores a runtime grant, replacing one of the same user, role
// and scope.
func (s *Store) PutGrant(ctx context.Context, g acl.Grant) error {
	if ctx.Err() != nil {
		return fmt.Errorf("put grant: %w", deploy.StoreNotRun(ctx))
	}
	if strings.ContainsRune(g.User+g.Role+g.App+g.Env, 0) {
		return errs.New(errs.Invalid, "put grant: fields must not contain NUL")
	}
	data, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("put grant: %w", err)
	}
	if err := s.guarded(ctx, putFieldScript, []string{s.key("grants")}, grantField(g.User, g.Role, g.App, g.Env), data).Err(); err != nil {
		return s.fail(ctx, fmt.Sprintf("put grant %s %s", g.User, g.Role), err)
	}
	return nil
}

// DeleteGrant removes the grant of user, role and scope and returns it;
// none (or an expired one, deleted all the same) is an error wrapping
// deploy.ErrNotFound. A reset store returns its error (ErrStoreReset) and
// deletes nothing.
func (s *Store) DeleteGrant(ctx context.Context, user, role, app, env string) (acl.Grant, error) {
	if ctx.Err() != nil {
		return acl.Grant{}, fmt.Errorf("delete grant: %w", deploy.StoreNotRun(ctx))
	}
	keys := []string{s.key("grants"), s.key("grants", "deleted", nonce())}
	data, err := s.guarded(ctx, takeFieldScript, keys, grantField(user, role, app, env), replyTTL.Milliseconds()).Text()
	if err != nil {
		return acl.Grant{}, s.fail(ctx, fmt.Sprintf("delete grant %s %s", user, role), err)
	}
	notFound := errs.Wrap(errs.NotFound, deploy.ErrNotFound, "%s has no runtime grant of role %s there", user, role)
	if data == "" {
		return acl.Grant{}, notFound
	}
	var g acl.Grant
	if err := json.Unmarshal([]byte(data), &g); err != nil {
		return acl.Grant{}, fmt.Errorf("delete grant %s %s: decode grant: %w", user, role, err)
	}
	if !g.Active(s.now()) {
		return acl.Grant{}, notFound
	}
	return g, nil
}

// Grants returns the runtime grants in force, sorted by user, role and
// scope; expired ones are deleted (see dropExpired).
func (s *Store) Grants(ctx context.Context) ([]acl.Grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	all, err := s.readGate(ctx, "list grants", s.key("grants"))
	if err != nil {
		return nil, err
	}
	now := s.now()
	var (
		out     []acl.Grant
		expired []any // field, value, field, value, …
	)
	for field, data := range all {
		var g acl.Grant
		if err := json.Unmarshal([]byte(data), &g); err != nil {
			return nil, fmt.Errorf("list grants: decode grant %q: %w", field, err)
		}
		if g.Active(now) {
			out = append(out, g)
		} else {
			expired = append(expired, field, data)
		}
	}
	s.dropExpired(ctx, "list grants", s.key("grants"), expired)
	slices.SortFunc(out, func(a, b acl.Grant) int {
		return strings.Compare(grantField(a.User, a.Role, a.App, a.Env), grantField(b.User, b.Role, b.App, b.Env))
	})
	return out, nil
}

// CheckIn records that user is present until until.
func (s *Store) CheckIn(ctx context.Context, user string, until time.Time) error {
	return s.CheckInUnder(ctx, user, until, "")
}

// CheckInUnder is CheckIn that keeps under with the check-in: what made
// user an admin as they checked in (see acl.CheckIn).
func (s *Store) CheckInUnder(ctx context.Context, user string, until time.Time, under string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("check in %s: %w", user, deploy.StoreNotRun(ctx))
	}
	v := acl.EncodeCheckIn(acl.CheckIn{Until: until, Under: under})
	if err := s.guarded(ctx, putFieldScript, []string{s.key("presence")}, user, v).Err(); err != nil {
		return s.fail(ctx, "check in "+user, err)
	}
	return nil
}

// CheckOut ends user's check-in; none is not an error.
func (s *Store) CheckOut(ctx context.Context, user string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("check out %s: %w", user, deploy.StoreNotRun(ctx))
	}
	if err := s.guarded(ctx, deleteFieldScript, []string{s.key("presence")}, user).Err(); err != nil {
		return s.fail(ctx, "check out "+user, err)
	}
	return nil
}

// CheckInIf makes user's check-in end at until if the check-in in force
// still ends at prev (the zero time: none; an ended check-in counts as
// none), in one script. Otherwise it changes nothing and returns the end
// of the check-in in force (zero: none) and false. A reset store returns
// its error (ErrStoreReset) and changes nothing.
func (s *Store) CheckInIf(ctx context.Context, user string, prev, until time.Time) (time.Time, bool, error) {
	if ctx.Err() != nil {
		return time.Time{}, false, fmt.Errorf("check in %s: %w", user, deploy.StoreNotRun(ctx))
	}
	if until.IsZero() {
		return time.Time{}, false, errs.New(errs.Invalid, "check in %s: no end given", user)
	}
	return s.presenceIf(ctx, "check in "+user, user, prev, func(under string) string {
		// The check-in changed keeps what it was made under.
		return acl.EncodeCheckIn(acl.CheckIn{Until: until, Under: under})
	})
}

// CheckOutIf ends user's check-in if the check-in in force still ends at
// prev, in one script; otherwise it is CheckInIf's.
func (s *Store) CheckOutIf(ctx context.Context, user string, prev time.Time) (time.Time, bool, error) {
	if ctx.Err() != nil {
		return time.Time{}, false, fmt.Errorf("check out %s: %w", user, deploy.StoreNotRun(ctx))
	}
	if prev.IsZero() {
		return time.Time{}, false, errs.New(errs.Invalid, "check out %s: no check-in given to end", user)
	}
	return s.presenceIf(ctx, "check out "+user, user, prev, func(string) string { return "" })
}

// presenceIf sets user's check-in to next(under of the one it replaces)
// ("": none) if the check-in in force still ends at prev. The script
// compares values as stored; whether one found is prev all the same (an
// ended check-in for none, or one stored with what it was made under) is
// decided here, and the script is run again, expecting that.
func (s *Store) presenceIf(ctx context.Context, op, user string, prev time.Time, next func(under string) string) (time.Time, bool, error) {
	now := s.now()
	if !prev.IsZero() && !now.Before(prev) {
		// No check-in in force ends at prev; only which one is remains
		// to be said.
		v, err := s.readField(ctx, op, s.key("presence"), user)
		if err != nil {
			return time.Time{}, false, err
		}
		cur, err := checkInInForce(v, now)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("%s: %w", op, err)
		}
		return cur, false, nil
	}
	var expected, under string
	if !prev.IsZero() {
		expected = prev.UTC().Format(time.RFC3339Nano)
	}
	for {
		keys := []string{s.key("presence"), s.key("presence", "set", nonce())}
		res, err := s.guarded(ctx, presenceIfScript, keys, user, expected, next(under), replyTTL.Milliseconds()).Text()
		if err != nil {
			return time.Time{}, false, s.fail(ctx, op, err)
		}
		if res == "=" {
			return time.Time{}, true, nil
		}
		v, found := strings.CutPrefix(res, "!")
		if !found {
			return time.Time{}, false, fmt.Errorf("%s: unexpected reply %q", op, res)
		}
		cur, err := checkInInForce(v, now)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("%s: %w", op, err)
		}
		if !cur.Equal(prev) {
			return cur, false, nil
		}
		expected = v
		if c, err := acl.DecodeCheckIn(v); err == nil {
			under = c.Under
		}
	}
}

// checkInInForce decodes the end of a check-in stored as v: zero for none
// ("") or one ended at now.
func checkInInForce(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	c, err := acl.DecodeCheckIn(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("decode presence: %w", err)
	}
	if !now.Before(c.Until) {
		return time.Time{}, nil
	}
	return c.Until, nil
}

// presenceIfScript sets field ARGV[1] of hash KEYS[1] to ARGV[3] ("":
// deletes it) if it holds ARGV[2] ("" for none), and returns "=";
// otherwise it returns "!" and what the field holds. KEYS[2] remembers
// the answer for a resend of the call: found again, the value this call
// wrote would read as a check-in changed meanwhile, and one it deleted as
// ended by someone else. It starts with guard.
var presenceIfScript = goredis.NewScript(guard + `
local done = redis.call('GET', KEYS[2])
if done then
  return done
end
local v = redis.call('HGET', KEYS[1], ARGV[1]) or ''
local answer = '!' .. v
if v == ARGV[2] then
  if ARGV[3] == '' then
    redis.call('HDEL', KEYS[1], ARGV[1])
  else
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  end
  answer = '='
end
redis.call('SET', KEYS[2], answer, 'PX', ARGV[4])
return answer
`)

// Present returns the users checked in now and until when; ended
// check-ins are deleted.
func (s *Store) Present(ctx context.Context) (map[string]time.Time, error) {
	all, err := s.CheckIns(ctx)
	if err != nil {
		return nil, err
	}
	return acl.Untils(all), nil
}

// CheckIns returns the check-ins in force now, by user; ended ones are
// deleted.
func (s *Store) CheckIns(ctx context.Context) (map[string]acl.CheckIn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list presence: %w", err)
	}
	all, err := s.readGate(ctx, "list presence", s.key("presence"))
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make(map[string]acl.CheckIn, len(all))
	var ended []any // user, value, user, value, …
	for user, v := range all {
		c, err := acl.DecodeCheckIn(v)
		if err != nil {
			return nil, fmt.Errorf("list presence: decode presence of %q: %w", user, err)
		}
		if now.Before(c.Until) {
			out[user] = c
		} else {
			ended = append(ended, user, v)
		}
	}
	s.dropExpired(ctx, "list presence", s.key("presence"), ended)
	return out, nil
}
