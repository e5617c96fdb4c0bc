package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// lockKey is app NUL env: byte order is scope order, App then Env, the
// empty (wider) scope first.
func lockKey(app, env string) []byte {
	return []byte(app + "\x00" + env)
}

// PutLock stores l, replacing the lock of the same scope (App, Env).
func (s *Store) PutLock(ctx context.Context, l deploy.Lock) error {
	if ctx.Err() != nil {
		return fmt.Errorf("put lock %s: %w", l.Scope(), s.notBegun(ctx))
	}
	if strings.ContainsRune(l.App, 0) || strings.ContainsRune(l.Env, 0) {
		return errs.New(errs.Invalid, "put lock: app and env must not contain NUL")
	}
	data, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("put lock %s: %w", l.Scope(), err)
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLocks).Put(lockKey(l.App, l.Env), data)
	})
	if err != nil {
		return fmt.Errorf("put lock %s: %w", l.Scope(), err)
	}
	return nil
}

// ReplaceLock stores next if the lock of its scope in force is still prev
// (nil: none; an expired lock counts as none), reading and writing in one
// transaction. Otherwise it stores nothing and returns the lock in force
// (nil: none) and false.
func (s *Store) ReplaceLock(ctx context.Context, prev *deploy.Lock, next deploy.Lock) (*deploy.Lock, bool, error) {
	if ctx.Err() != nil {
		return nil, false, fmt.Errorf("replace lock %s: %w", next.Scope(), s.notBegun(ctx))
	}
	if err := checkReplace(prev, next); err != nil {
		return nil, false, err
	}
	data, err := json.Marshal(next)
	if err != nil {
		return nil, false, fmt.Errorf("replace lock %s: %w", next.Scope(), err)
	}
	var (
		cur *deploy.Lock
		ok  bool
	)
	now := s.now()
	err = s.update(ctx, func(tx *bolt.Tx) error {
		if next.Fence != 0 {
			// Checked in the transaction that writes, as a record's
			// fence is (see PutRecord).
			newest, err := fence(tx, deploy.LeaseKey(next.App, next.Env))
			if err != nil {
				return err
			}
			if newest > next.Fence {
				return errs.Wrap(errs.Conflict, deploy.ErrLeaseLost, "the app+env was taken over by lease %d (this lock holds %d)", newest, next.Fence)
			}
		}
		b := tx.Bucket(bucketLocks)
		if v := b.Get(lockKey(next.App, next.Env)); v != nil {
			var l deploy.Lock
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("decode lock: %w", err)
			}
			if l.Active(now) {
				cur = &l
			}
		}
		if ok = sameLock(cur, prev); !ok {
			return nil
		}
		return b.Put(lockKey(next.App, next.Env), data)
	})
	if err != nil {
		return nil, false, fmt.Errorf("replace lock %s: %w", next.Scope(), err)
	}
	if !ok {
		return cur, false, nil
	}
	return nil, true, nil
}

// checkReplace refuses a replacement of a lock by one of another scope,
// or with a NUL in its scope.
func checkReplace(prev *deploy.Lock, next deploy.Lock) error {
	if strings.ContainsRune(next.App, 0) || strings.ContainsRune(next.Env, 0) {
		return errs.New(errs.Invalid, "replace lock: app and env must not contain NUL")
	}
	if prev != nil && (prev.App != next.App || prev.Env != next.Env) {
		return errs.New(errs.Invalid, "replace lock: a lock of %s cannot replace one of %s", next.Scope(), prev.Scope())
	}
	return nil
}

// sameLock reports whether a and b are both none or the same lock.
func sameLock(a, b *deploy.Lock) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// DeleteLock removes the lock of scope app/env and returns it. If there is
// none, or it has expired (it is deleted all the same), the error wraps
// deploy.ErrNotFound (code NotFound).
func (s *Store) DeleteLock(ctx context.Context, app, env string) (deploy.Lock, error) {
	scope := deploy.Lock{App: app, Env: env}.Scope()
	if ctx.Err() != nil {
		return deploy.Lock{}, fmt.Errorf("delete lock %s: %w", scope, s.notBegun(ctx))
	}
	var l deploy.Lock
	found := false
	now := s.now()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLocks)
		k := lockKey(app, env)
		data := b.Get(k)
		if data == nil {
			return nil
		}
		if err := json.Unmarshal(data, &l); err != nil {
			return fmt.Errorf("decode lock: %w", err)
		}
		found = l.Active(now)
		return b.Delete(k)
	})
	if err != nil {
		return deploy.Lock{}, fmt.Errorf("delete lock %s: %w", scope, err)
	}
	if !found {
		return deploy.Lock{}, errs.Wrap(errs.NotFound, deploy.ErrNotFound, "no lock on %s", scope)
	}
	return l, nil
}

// Locks returns the locks in force, sorted by scope: App, then Env, the
// empty (wider) one first. Expired locks are not returned, and are deleted
// (see dropExpired).
func (s *Store) Locks(ctx context.Context) ([]deploy.Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	now := s.now()
	var active []deploy.Lock
	var expired [][]byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLocks).ForEach(func(k, v []byte) error {
			var l deploy.Lock
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("decode lock %q: %w", k, err)
			}
			if l.Active(now) {
				active = append(active, l)
			} else {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	s.dropExpired(ctx, "list locks", bucketLocks, expired, func(data []byte) bool {
		var l deploy.Lock
		return json.Unmarshal(data, &l) == nil && !l.Active(s.now())
	})
	return active, nil
}

// dropTimeout bounds the wait of dropExpired for the disk, as a Redis
// store's read timeout bounds its: a stalled disk would otherwise hold
// every listing, and so every permission check, for its caller's whole
// deadline, or for ever without one.
const dropTimeout = 2 * time.Second

// dropExpired deletes the entries at keys of bucket, expired when a
// listing read them, that expired(their value) still finds expired: one
// may have been replaced since. It is housekeeping the listing does on the
// way, not what it was asked for: a write that fails (a full disk) or does
// not end in time (a stalled one) leaves them to a later listing, logged,
// rather than fail the listing, and with it every permission check and
// status while one expired entry is there.
func (s *Store) dropExpired(ctx context.Context, op string, bucket []byte, keys [][]byte, expired func(data []byte) bool) {
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, dropTimeout)
	defer cancel()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, k := range keys {
			if data := b.Get(k); data == nil || !expired(data) {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Warn(op+": expired entries left for a later listing to delete", "store", s.path, "err", err)
	}
}
