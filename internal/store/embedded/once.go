package embedded

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/errs"
)

// sweepBatch bounds how many expired keys one SetOnce deletes. It is more
// than the one key SetOnce adds, so the bucket does not grow with keys
// that are never asked about again.
const sweepBatch = 16

// forever is the expiry of a key set without one: a first byte no
// expiry's timeKey has (it would be some 290 billion years BC).
var forever = []byte{0}

// onceValue is what bucketOnce holds for a key: its expiry (forever, or
// timeKey) and then the token of SetOnceToken, if it set the key. Files
// written before tokens hold the expiry alone.
func onceValue(exp []byte, token string) []byte {
	return append(append([]byte(nil), exp...), token...)
}

// parseOnce splits a bucketOnce value into its expiry (nil: forever) and
// token. A value too short for an expiry is read as forever, as it was
// before tokens.
func parseOnce(v []byte) (exp, token []byte) {
	switch {
	case len(v) > 0 && v[0] == forever[0]:
		return nil, v[1:]
	case len(v) < timeKeyLen:
		return nil, nil
	}
	return v[:timeKeyLen], v[timeKeyLen:]
}

// SetOnce sets key for ttl and reports whether it was newly set: true if
// the key was absent or had expired, false if it is still set. A ttl of
// zero or less sets the key for good.
//
// A call that gave up as its context ended (the disk did not answer) sets
// nothing afterwards: its caller, told it failed, may have undone it
// already (ForgetOnce).
func (s *Store) SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return s.setOnce(ctx, key, "", ttl)
}

// SetOnceToken is SetOnce with token, which the caller makes unique to
// the call, kept with the key: ForgetOnce removes the key only while it
// holds that token, that is, only if this call set it. An empty token is
// an error of code Invalid.
func (s *Store) SetOnceToken(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if token == "" {
		return false, errs.New(errs.Invalid, "set once %s: empty token", key)
	}
	return s.setOnce(ctx, key, token, ttl)
}

func (s *Store) setOnce(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if ctx.Err() != nil {
		return false, fmt.Errorf("set once %s: %w", key, s.notBegun(ctx))
	}
	if key == "" {
		return false, errs.New(errs.Invalid, "set once: empty key")
	}
	now := s.now()
	set := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		// The transaction may start long after the call gave up, behind
		// one stuck on the disk; by then a ForgetOnce of the caller may
		// have run before it, and this write would outlive it.
		if err := ctx.Err(); err != nil {
			return err
		}
		keys, byExpiry := tx.Bucket(bucketOnce), tx.Bucket(bucketOnceExpiry)
		if err := sweepOnce(keys, byExpiry, now); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		k := []byte(key)
		if v := keys.Get(k); v != nil {
			exp, _ := parseOnce(v)
			if exp == nil || now.Before(parseTimeKey(exp)) {
				return nil // forever, or not expired yet
			}
			if err := byExpiry.Delete(append(append([]byte(nil), exp...), k...)); err != nil {
				return err
			}
		}
		set = true
		if ttl <= 0 {
			return keys.Put(k, onceValue(forever, token))
		}
		exp := timeKey(now.Add(ttl), 0)
		if err := keys.Put(k, onceValue(exp, token)); err != nil {
			return err
		}
		return byExpiry.Put(append(append([]byte(nil), exp...), k...), nil)
	})
	if err != nil {
		return false, fmt.Errorf("set once %s: %w", key, err)
	}
	return set, nil
}

// ForgetOnce removes key if SetOnceToken set it with token, expired or
// not, and does nothing if the key is absent or holds another token: one
// that a concurrent call set, whose caller may have acted on it. It undoes
// a SetOnceToken whose outcome its caller could not learn (a timeout). An
// empty token is an error of code Invalid.
func (s *Store) ForgetOnce(ctx context.Context, key, token string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("forget once %s: %w", key, s.notBegun(ctx))
	}
	if key == "" || token == "" {
		return errs.New(errs.Invalid, "forget once %q: empty key or token", key)
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		keys, byExpiry := tx.Bucket(bucketOnce), tx.Bucket(bucketOnceExpiry)
		k := []byte(key)
		v := keys.Get(k)
		if v == nil {
			return nil
		}
		exp, held := parseOnce(v)
		if string(held) != token {
			return nil
		}
		if exp != nil {
			if err := byExpiry.Delete(append(append([]byte(nil), exp...), k...)); err != nil {
				return err
			}
		}
		return keys.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("forget once %s: %w", key, err)
	}
	return nil
}

// sweepOnce deletes up to sweepBatch keys that have expired at now, the
// oldest first.
func sweepOnce(keys, byExpiry *bolt.Bucket, now time.Time) error {
	var gone [][]byte
	c := byExpiry.Cursor()
	for k, _ := c.First(); k != nil && len(gone) < sweepBatch; k, _ = c.Next() {
		if now.Before(parseTimeKey(k)) {
			break
		}
		gone = append(gone, append([]byte(nil), k...))
	}
	// Deleting under a cursor can skip entries; delete once it is done.
	for _, k := range gone {
		if err := keys.Delete(k[timeKeyLen:]); err != nil {
			return err
		}
		if err := byExpiry.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
