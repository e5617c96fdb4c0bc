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
	if ctx.Err() != nil {
		return fmt.Errorf("signal %s %s: %w", kind, id, s.notBegun(ctx))
	}
	v := signalValue(s.now().Add(ttl), value)
	if err := s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSignals).Put(signalKey(id, kind), v)
	}); err != nil {
		return fmt.Errorf("signal %s %s: %w", kind, id, err)
	}
	return nil
}

// SignalFirst leaves value for run id under kind until ttl passes, unless
// a signal of kind left for id is still there, neither taken nor expired:
// then it leaves nothing and returns that one's value, and false.
func (s *Store) SignalFirst(ctx context.Context, id, kind, value string, ttl time.Duration) (string, bool, error) {
	if ctx.Err() != nil {
		return "", false, fmt.Errorf("signal %s %s: %w", kind, id, s.notBegun(ctx))
	}
	now := s.now()
	k := signalKey(id, kind)
	var held string
	left := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSignals)
		if v := b.Get(k); len(v) >= 8 && now.Before(signalExpiry(v)) {
			held = string(v[8:])
			return nil
		}
		left = true
		return b.Put(k, signalValue(now.Add(ttl), value))
	})
	if err != nil {
		return "", false, fmt.Errorf("signal %s %s: %w", kind, id, err)
	}
	return held, left, nil
}

// signalValue is a signal as stored: its expiry in Unix nanoseconds, 8
// bytes big-endian, then value.
func signalValue(expires time.Time, value string) []byte {
	v := binary.BigEndian.AppendUint64(nil, uint64(expires.UnixNano()))
	return append(v, value...)
}

// signalExpiry is the expiry of the stored signal v, at least 8 bytes.
func signalExpiry(v []byte) time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(v))) }

// TakeSignal returns and removes the signal of kind left for run id, if
// one is there and has not expired. A run asks often: the question is a
// read, and only a signal found costs a write.
func (s *Store) TakeSignal(ctx context.Context, id, kind string) (string, bool, error) {
	if ctx.Err() != nil {
		return "", false, fmt.Errorf("take signal %s %s: %w", kind, id, s.notBegun(ctx))
	}
	k := signalKey(id, kind)
	var found bool
	if err := s.view(ctx, func(tx *bolt.Tx) error {
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
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSignals)
		v := b.Get(k)
		if len(v) < 8 {
			return b.Delete(k)
		}
		if s.now().Before(signalExpiry(v)) {
			value, ok = string(v[8:]), true
		}
		return b.Delete(k)
	})
	if err != nil {
		return "", false, fmt.Errorf("take signal %s %s: %w", kind, id, err)
	}
	return value, ok, nil
}
