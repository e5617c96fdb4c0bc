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

// forever is the value of a key set without expiry; an expiry is timeKeyLen
// bytes long.
var forever = []byte{0}

// SetOnce sets key for ttl and reports whether it was newly set: true if
// the key was absent or had expired, false if it is still set. A ttl of
// zero or less sets the key for good.
func (s *Store) SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("set once %s: %w", key, err)
	}
	if key == "" {
		return false, errs.New(errs.Invalid, "set once: empty key")
	}
	now := s.now()
	set := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		keys, byExpiry := tx.Bucket(bucketOnce), tx.Bucket(bucketOnceExpiry)
		if err := sweepOnce(keys, byExpiry, now); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		k := []byte(key)
		if v := keys.Get(k); v != nil {
			if len(v) != timeKeyLen || now.Before(parseTimeKey(v)) {
				return nil // forever, or not expired yet
			}
			if err := byExpiry.Delete(append(append([]byte(nil), v...), k...)); err != nil {
				return err
			}
		}
		set = true
		if ttl <= 0 {
			return keys.Put(k, forever)
		}
		exp := timeKey(now.Add(ttl), 0)
		if err := keys.Put(k, exp); err != nil {
			return err
		}
		return byExpiry.Put(append(append([]byte(nil), exp...), k...), nil)
	})
	if err != nil {
		return false, fmt.Errorf("set once %s: %w", key, err)
	}
	return set, nil
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
