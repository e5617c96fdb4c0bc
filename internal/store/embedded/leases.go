package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
)

// leaseEntry is who holds a lease key, under which token, until when.
type leaseEntry struct {
	holder  string
	token   int64
	expires time.Time
}

// Acquire takes the lease key for holder for ttl. If the key is held and
// has not expired, it returns a *deploy.LeaseHeldError naming the holder,
// even when that is holder itself: a lease is not re-entrant. Every
// successful Acquire of key persists a token larger than any before it, so
// tokens keep growing across restarts.
//
// Acquisitions are serialized by the store, including the write of the
// token, which waits for the disk; the leases already held do not wait for
// them, and an Acquire waiting behind another gives up when its context
// ends, having written nothing: its error wraps deploy.ErrStoreNotRun.
func (s *Store) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("acquire lease %s: %w", key, s.notBegun(ctx))
	}
	switch {
	case key == "":
		return nil, errs.New(errs.Invalid, "acquire lease: empty key")
	case holder == "":
		return nil, errs.New(errs.Invalid, "acquire lease %s: empty holder", key)
	case ttl <= 0:
		return nil, errs.New(errs.Invalid, "acquire lease %s: ttl %v is not positive", key, ttl)
	}
	// acquiring, not mu, is held while the token is written: only an
	// Acquire adds a lease, so the key stays free meanwhile, and the
	// token persisted last is its holder's, as PutRecord's fencing
	// needs; Check, Renew, Release and Holder, which take mu, do not
	// wait for the disk.
	select {
	case s.acquiring <- struct{}{}:
		defer func() { <-s.acquiring }()
	case <-ctx.Done():
		// Behind another Acquire, which waits for the disk: nothing of
		// this one was written, and its caller may say so.
		return nil, fmt.Errorf("acquire lease %s: %w", key, s.notRun(ctx))
	}
	s.mu.Lock()
	closed := s.leases == nil
	now := s.now()
	e, ok := s.leases[key]
	s.mu.Unlock()
	switch {
	case closed:
		return nil, fmt.Errorf("acquire lease %s: %w", key, deploy.ErrStoreClosed)
	case ok && now.Before(e.expires):
		return nil, &deploy.LeaseHeldError{Key: key, Holder: e.holder, Token: e.token}
	}
	if ctx.Err() != nil {
		// ctx ended as the Acquire before this one freed the queue, and
		// select took the queue: begin no write its caller is past
		// waiting for, which would wait its turn on a stalled disk only
		// to be dropped then.
		return nil, fmt.Errorf("acquire lease %s: %w", key, s.notRun(ctx))
	}
	token, err := s.nextFence(ctx, key, now)
	if err != nil {
		return nil, fmt.Errorf("acquire lease %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leases == nil {
		return nil, fmt.Errorf("acquire lease %s: %w", key, deploy.ErrStoreClosed)
	}
	s.leases[key] = leaseEntry{holder: holder, token: token, expires: now.Add(ttl)}
	delete(s.ended, key)
	return &lease{s: s, key: key, holder: holder, token: token, ttl: ttl}, nil
}

// Holder returns who holds the lease key, or "" when no one does (never
// taken, released or expired).
func (s *Store) Holder(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("read lease %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leases == nil {
		return "", fmt.Errorf("read lease %s: %w", key, deploy.ErrStoreClosed)
	}
	if e, ok := s.leases[key]; ok && s.now().Before(e.expires) {
		return e.holder, nil
	}
	return "", nil
}

// fenceRetention is how long the fencing counter of a run's lease (see
// runFence) is kept once the lease ended, as the Redis store keeps its
// fence: a write that late under its token is refused all the same (see
// fenceOf), and a file whose records are never trimmed, the one thing
// that dropped them while the bot ran, no longer keeps one per deploy
// until the bot restarts.
const fenceRetention = 7 * 24 * time.Hour

// nextFence increments and returns the persisted fencing counter of key.
// In the same transaction it drops the counters of runs' leases that
// ended fenceRetention before now (see endedBefore): the caller
// holds s.acquiring, as pruneRunFences needs.
func (s *Store) nextFence(ctx context.Context, key string, now time.Time) (int64, error) {
	due := s.endedBefore(now.Add(-fenceRetention))
	var token int64
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if len(due) > 0 {
			if _, err := pruneRunFences(tx, func(k string) bool { return due[k] }); err != nil {
				return err
			}
		}
		n, err := fence(tx, key)
		if err != nil {
			return err
		}
		token = n + 1
		return tx.Bucket(bucketFences).Put([]byte(key), u64(uint64(token)))
	})
	if err != nil {
		return 0, fmt.Errorf("fencing token: %w", err)
	}
	s.forgetEnded(due)
	return token, nil
}

// endedBefore returns the keys of runs' leases that ended before cut: those
// released then, and those that expired then unreleased (a holder that
// stopped renewing). The caller holds s.acquiring: none is taken again
// meanwhile.
func (s *Store) endedBefore(cut time.Time) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	due := map[string]bool{}
	for k, at := range s.ended {
		if at.Before(cut) {
			due[k] = true
		}
	}
	for k, e := range s.leases {
		if runFence(k) && e.expires.Before(cut) {
			due[k] = true
		}
	}
	return due
}

// forgetEnded drops what s knows of the leases of keys, whose counters
// are gone: an expired entry of one is no lease in force.
func (s *Store) forgetEnded(keys map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range keys {
		delete(s.ended, k)
		if e, ok := s.leases[k]; ok && !s.now().Before(e.expires) {
			delete(s.leases, k)
		}
	}
}

// fence returns the last token handed out for key, 0 if none; for a
// run's lease (runFence) whose counter was dropped, the floor of such
// counters (see pruneRunFences).
func fence(tx *bolt.Tx, key string) (int64, error) {
	n, _, err := fenceOf(tx, key)
	return n, err
}

// fenceOf is fence, and reports whether the token is the floor of the
// dropped counters rather than one handed out for key: no lease of key
// ever held it, and a refusal must not name it as its holder's.
func fenceOf(tx *bolt.Tx, key string) (n int64, pruned bool, err error) {
	v := tx.Bucket(bucketFences).Get([]byte(key))
	if v == nil && runFence(key) {
		v, pruned = tx.Bucket(bucketMeta).Get(keyRunFenceFloor), true
	}
	if v == nil {
		return 0, false, nil
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("malformed fencing counter %x of %s", v, key)
	}
	return int64(binary.BigEndian.Uint64(v)), pruned, nil
}

// keyRunFenceFloor, in the meta bucket, is one more than the largest
// counter pruneRunFences dropped: what fence reads for a run's lease whose
// counter is gone. Missing: none was dropped.
var keyRunFenceFloor = []byte("run_fence_floor")

// runFence reports whether key is the lease of one run, taken once per
// deploy, whose counter is dropped once no lease of it is held: its error
// watch's, its recovery's. An app+env lease's stays: one per app+env.
func runFence(key string) bool {
	return strings.HasPrefix(key, watchstore.LeaseKey("")) || strings.HasPrefix(key, deploy.RecoverLeaseKey(""))
}

// pruneRunFences drops the counters of runs' leases that drop reports
// (nil: all), which no lease in force may hold, so that a long-lived
// file does not keep one per deploy forever, and raises the floor fence
// reads for them above every token dropped: a write under one is
// refused, and the next Acquire hands out a newer token. It returns the
// keys dropped. No Acquire may run meanwhile: one taken between the
// caller's look at the leases and the transaction would lose its counter
// while in force, and its writes be refused.
func pruneRunFences(tx *bolt.Tx, drop func(key string) bool) ([]string, error) {
	b := tx.Bucket(bucketFences)
	var floor int64
	if v := tx.Bucket(bucketMeta).Get(keyRunFenceFloor); len(v) == 8 {
		floor = int64(binary.BigEndian.Uint64(v))
	}
	var dropped []string
	c := b.Cursor()
	for _, prefix := range []string{watchstore.LeaseKey(""), deploy.RecoverLeaseKey("")} {
		for k, v := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
			if drop != nil && !drop(string(k)) {
				continue
			}
			if len(v) != 8 {
				return nil, fmt.Errorf("malformed fencing counter %x of %s", v, k)
			}
			floor = max(floor, int64(binary.BigEndian.Uint64(v))+1)
			dropped = append(dropped, string(k))
		}
	}
	if len(dropped) == 0 {
		return nil, nil
	}
	for _, k := range dropped {
		if err := b.Delete([]byte(k)); err != nil {
			return nil, err
		}
	}
	return dropped, tx.Bucket(bucketMeta).Put(keyRunFenceFloor, u64(uint64(floor)))
}

// pruneFences is pruneRunFences while the store runs: the counters of
// leases in force stay. It waits for any Acquire under way.
func (s *Store) pruneFences(ctx context.Context) error {
	select {
	case s.acquiring <- struct{}{}:
		defer func() { <-s.acquiring }()
	case <-ctx.Done():
		// The Acquire under way waits for the disk: what is said of
		// the file is said of it, not that it is unreachable.
		return errs.Wrap(errs.Unavailable, ctxErr(ctx), "drop fencing counters: state store %s %s; none was dropped", s.path, unanswered(ctx))
	}
	// With no Acquire running, the leases in force now are all there
	// will be until the transaction ends.
	held := map[string]bool{}
	s.mu.Lock()
	now := s.now()
	for k, e := range s.leases {
		if now.Before(e.expires) {
			held[k] = true
		}
	}
	s.mu.Unlock()
	var dropped []string
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		dropped, err = pruneRunFences(tx, func(key string) bool { return !held[key] })
		return err
	})
	if err != nil {
		return fmt.Errorf("drop fencing counters: %w", err)
	}
	s.mu.Lock()
	for _, k := range dropped {
		delete(s.ended, k)
	}
	s.mu.Unlock()
	return nil
}

// lease is one acquisition of a key. It is safe for concurrent use.
type lease struct {
	s      *Store
	key    string
	holder string
	token  int64
	ttl    time.Duration
}

func (l *lease) Token() int64 { return l.token }

// held returns nil if l is still in force at now, else an error wrapping
// deploy.ErrLeaseLost saying why. It reports whether the key's entry is
// l's own (expired or not). l.s.mu must be held.
func (l *lease) held(now time.Time) (own bool, err error) {
	e, ok := l.s.leases[l.key]
	switch {
	case !ok:
		return false, fmt.Errorf("lease %s (token %d) of %s: %w", l.key, l.token, l.holder, deploy.ErrLeaseLost)
	case e.token != l.token:
		return false, fmt.Errorf("lease %s (token %d) of %s taken by %s (token %d): %w",
			l.key, l.token, l.holder, e.holder, e.token, deploy.ErrLeaseLost)
	case !now.Before(e.expires):
		return true, fmt.Errorf("lease %s (token %d) of %s expired at %s: %w",
			l.key, l.token, l.holder, e.expires.Format(time.RFC3339), deploy.ErrLeaseLost)
	}
	return true, nil
}

// Check returns nil if the lease is still held, else an error wrapping
// deploy.ErrLeaseLost.
func (l *lease) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check lease %s: %w", l.key, err)
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	_, err := l.held(l.s.now())
	return err
}

// Renew extends the lease to ttl from now. A lease that is no longer held
// returns an error wrapping deploy.ErrLeaseLost and the key is left as it is.
func (l *lease) Renew(ctx context.Context) error {
	if ctx.Err() != nil {
		return fmt.Errorf("renew lease %s: %w", l.key, l.s.notBegun(ctx))
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	now := l.s.now()
	if _, err := l.held(now); err != nil {
		return err
	}
	l.s.leases[l.key] = leaseEntry{holder: l.holder, token: l.token, expires: now.Add(l.ttl)}
	return nil
}

// Release frees the key if l still holds it. A lease that is no longer held
// returns an error wrapping deploy.ErrLeaseLost, and a later holder keeps
// the key.
func (l *lease) Release(ctx context.Context) error {
	if ctx.Err() != nil {
		return fmt.Errorf("release lease %s: %w", l.key, l.s.notBegun(ctx))
	}
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	now := l.s.now()
	own, err := l.held(now)
	if own {
		if runFence(l.key) {
			// Its counter goes fenceRetention after the lease ended:
			// now, or when it expired unrenewed.
			end := now
			if e := l.s.leases[l.key].expires; e.Before(end) {
				end = e
			}
			l.s.ended[l.key] = end
		}
		// Expired or not, the entry is l's; nobody else can observe it.
		delete(l.s.leases, l.key)
	}
	return err
}
