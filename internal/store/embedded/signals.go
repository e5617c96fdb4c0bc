package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

func signalKey(id, kind string) []byte { return []byte(id + "\x00" + kind) }

// Signal leaves value for run id under kind until ttl passes, replacing
// one left before.
func (s *Store) Signal(ctx context.Context, id, kind, value string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("signal %s %s: %w", kind, id, err)
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(s.now().Add(ttl).UnixNano()))
	v = append(v, value...)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSignals).Put(signalKey(id, kind), v)
	}); err != nil {
		return fmt.Errorf("signal %s %s: %w", kind, id, err)
	}
	return nil
}

// TakeSignal returns and removes the signal of kind left for run id, if
// one is there and has not expired. A run asks often: the question is a
// read, and only a signal found costs a write.
func (s *Store) TakeSignal(ctx context.Context, id, kind string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, fmt.Errorf("take signal %s %s: %w", kind, id, err)
	}
	k := signalKey(id, kind)
	var found bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketSignals).Get(k) != nil
		return nil
	}); err != nil || !found {
		if err != nil {
			return "", false, fmt.Errorf("take signal %s %s: %w", kind, id, err)
		}
		return "", false, nil
	}
	var value string
	var ok bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSignals)
		v := b.Get(k)
		if len(v) < 8 {
			return b.Delete(k)
		}
		if expires := time.Unix(0, int64(binary.BigEndian.Uint64(v))); s.now().Before(expires) {
			value, ok = string(v[8:]), true
		}
		return b.Delete(k)
	})
	if err != nil {
		return "", false, fmt.Errorf("take signal %s %s: %w", kind, id, err)
	}
	return value, ok, nil
}
