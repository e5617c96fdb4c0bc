package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

var (
	// bucketGrants maps user NUL role NUL app NUL env to an acl.Grant.
	bucketGrants = []byte("grants")
	// bucketPresence maps a user to the end of their check-in (RFC 3339).
	bucketPresence = []byte("presence")
)

func grantKey(user, role, app, env string) []byte {
	return []byte(user + "\x00" + role + "\x00" + app + "\x00" + env)
}

// PutGrant stores a runtime grant, replacing one of the same user, role
// and scope.
func (s *Store) PutGrant(ctx context.Context, g acl.Grant) error {
	if ctx.Err() != nil {
		return fmt.Errorf("put grant: %w", s.notBegun(ctx))
	}
	for _, f := range []string{g.User, g.Role, g.App, g.Env} {
		if strings.ContainsRune(f, 0) {
			return errs.New(errs.Invalid, "put grant: fields must not contain NUL")
		}
	}
	data, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("put grant: %w", err)
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketGrants).Put(grantKey(g.User, g.Role, g.App, g.Env), data)
	})
	if err != nil {
		return fmt.Errorf("put grant %s %s: %w", g.User, g.Role, err)
	}
	return nil
}

// DeleteGrant removes the grant of user, role and scope and returns it;
// none (or an expired one) is an error wrapping deploy.ErrNotFound.
func (s *Store) DeleteGrant(ctx context.Context, user, role, app, env string) (acl.Grant, error) {
	if ctx.Err() != nil {
		return acl.Grant{}, fmt.Errorf("delete grant: %w", s.notBegun(ctx))
	}
	var g acl.Grant
	found := false
	now := s.now()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketGrants)
		k := grantKey(user, role, app, env)
		data := b.Get(k)
		if data == nil {
			return nil
		}
		if err := json.Unmarshal(data, &g); err != nil {
			return fmt.Errorf("decode grant: %w", err)
		}
		found = g.Active(now)
		return b.Delete(k)
	})
	if err != nil {
		return acl.Grant{}, fmt.Errorf("delete grant %s %s: %w", user, role, err)
	}
	if !found {
		return acl.Grant{}, errs.Wrap(errs.NotFound, deploy.ErrNotFound, "%s has no runtime grant of role %s there", user, role)
	}
	return g, nil
}

// Grants returns the runtime grants in force, sorted by user, role and
// scope; expired ones are not returned, and are deleted (see dropExpired).
func (s *Store) Grants(ctx context.Context) ([]acl.Grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	now := s.now()
	var out []acl.Grant
	var expired [][]byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketGrants).ForEach(func(k, v []byte) error {
			var g acl.Grant
			if err := json.Unmarshal(v, &g); err != nil {
				return fmt.Errorf("decode grant %q: %w", k, err)
			}
			if g.Active(now) {
				out = append(out, g)
			} else {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	s.dropExpired(ctx, "list grants", bucketGrants, expired, func(data []byte) bool {
		var g acl.Grant
		return json.Unmarshal(data, &g) == nil && !g.Active(s.now())
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
		return fmt.Errorf("check in %s: %w", user, s.notBegun(ctx))
	}
	v := []byte(acl.EncodeCheckIn(acl.CheckIn{Until: until, Under: under}))
	err := s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPresence).Put([]byte(user), v)
	})
	if err != nil {
		return fmt.Errorf("check in %s: %w", user, err)
	}
	return nil
}

// CheckOut ends user's check-in; none is not an error.
func (s *Store) CheckOut(ctx context.Context, user string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("check out %s: %w", user, s.notBegun(ctx))
	}
	if err := s.update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bucketPresence).Delete([]byte(user)) }); err != nil {
		return fmt.Errorf("check out %s: %w", user, err)
	}
	return nil
}

// CheckInIf makes user's check-in end at until if the check-in in force
// still ends at prev (the zero time: none; an ended check-in counts as
// none), reading and writing in one transaction. Otherwise it changes
// nothing and returns the end of the check-in in force (zero: none) and
// false.
func (s *Store) CheckInIf(ctx context.Context, user string, prev, until time.Time) (time.Time, bool, error) {
	if ctx.Err() != nil {
		return time.Time{}, false, fmt.Errorf("check in %s: %w", user, s.notBegun(ctx))
	}
	if until.IsZero() {
		return time.Time{}, false, errs.New(errs.Invalid, "check in %s: no end given", user)
	}
	// The check-in changed keeps what it was made under.
	cur, ok, err := s.presenceIf(ctx, user, prev, func(b *bolt.Bucket) error {
		var under string
		if old := b.Get([]byte(user)); old != nil {
			c, err := acl.DecodeCheckIn(string(old))
			if err != nil {
				return err
			}
			under = c.Under
		}
		return b.Put([]byte(user), []byte(acl.EncodeCheckIn(acl.CheckIn{Until: until, Under: under})))
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("check in %s: %w", user, err)
	}
	return cur, ok, nil
}

// CheckOutIf ends user's check-in if the check-in in force still ends at
// prev, in one transaction; otherwise it is CheckInIf's.
func (s *Store) CheckOutIf(ctx context.Context, user string, prev time.Time) (time.Time, bool, error) {
	if ctx.Err() != nil {
		return time.Time{}, false, fmt.Errorf("check out %s: %w", user, s.notBegun(ctx))
	}
	if prev.IsZero() {
		return time.Time{}, false, errs.New(errs.Invalid, "check out %s: no check-in given to end", user)
	}
	cur, ok, err := s.presenceIf(ctx, user, prev, func(b *bolt.Bucket) error { return b.Delete([]byte(user)) })
	if err != nil {
		return time.Time{}, false, fmt.Errorf("check out %s: %w", user, err)
	}
	return cur, ok, nil
}

// presenceIf runs write on the presence bucket if user's check-in in
// force ends at prev (zero: none), in one transaction, or returns the
// end of the one in force and false.
func (s *Store) presenceIf(ctx context.Context, user string, prev time.Time, write func(*bolt.Bucket) error) (time.Time, bool, error) {
	now := s.now()
	var (
		cur time.Time
		ok  bool
	)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPresence)
		cur = time.Time{}
		if v := b.Get([]byte(user)); v != nil {
			c, err := acl.DecodeCheckIn(string(v))
			if err != nil {
				return fmt.Errorf("decode presence: %w", err)
			}
			if now.Before(c.Until) {
				cur = c.Until
			}
		}
		if ok = cur.Equal(prev); !ok {
			return nil
		}
		return write(b)
	})
	if err != nil {
		return time.Time{}, false, err
	}
	if ok {
		return time.Time{}, true, nil
	}
	return cur, false, nil
}

// Present returns the users checked in now and until when.
func (s *Store) Present(ctx context.Context) (map[string]time.Time, error) {
	all, err := s.CheckIns(ctx)
	if err != nil {
		return nil, err
	}
	return acl.Untils(all), nil
}

// CheckIns returns the check-ins in force now, by user.
func (s *Store) CheckIns(ctx context.Context) (map[string]acl.CheckIn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list presence: %w", err)
	}
	now := s.now()
	out := map[string]acl.CheckIn{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPresence).ForEach(func(k, v []byte) error {
			c, err := acl.DecodeCheckIn(string(v))
			if err != nil {
				return fmt.Errorf("decode presence of %q: %w", k, err)
			}
			if now.Before(c.Until) {
				out[string(k)] = c
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list presence: %w", err)
	}
	return out, nil
}
