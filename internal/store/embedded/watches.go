package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
)

var _ watchstore.Store = (*Store)(nil)

// bucketWatches maps a watched run's id to its watch (watchstore.Watch as
// JSON). Created on first write, so files written before watches were kept
// open unchanged.
var bucketWatches = []byte("watches")

func checkWatchID(op, id string) error {
	if id == "" || strings.ContainsRune(id, 0) {
		return errs.New(errs.Invalid, "%s: the run id must be non-empty and without NUL", op)
	}
	return nil
}

// staleWatch is the error for a write of a watch that another holder of
// its lease has taken over.
func staleWatch(stored, fence int64) error {
	return errs.Wrap(errs.Conflict, deploy.ErrLeaseLost, "the watch was taken over by lease %d (this write holds %d)", stored, fence)
}

// prunedWatch is the error for a write of a watch whose lease's fencing
// counter was dropped (see pruneRunFences): the floor it is refused by is
// no lease's token, and naming it as the one that took the watch over
// sent people looking for a holder that never was.
func prunedWatch(fence int64) error {
	return errs.Wrap(errs.Conflict, deploy.ErrLeaseLost, "the watch's lease is over and its fencing token has been dropped since (on a restart, a history trim, or %d days after the lease ended): the write is older than the store keeps it (this write holds %d)", fenceRetention/(24*time.Hour), fence)
}

// fencedWatch returns the error refusing a write of the watch of id in b
// (nil if none) with token, or nil. Checked in the transaction that
// writes: Acquire's token is persisted in one of its own, so a write is
// either before the lease was taken over (and read by its new holder) or
// refused.
func fencedWatch(tx *bolt.Tx, b *bolt.Bucket, id string, token int64) error {
	newest, pruned, err := fenceOf(tx, watchstore.LeaseKey(id))
	if err != nil {
		return err
	}
	switch {
	case newest > token && pruned:
		return prunedWatch(token)
	case newest > token:
		return staleWatch(newest, token)
	}
	if b == nil {
		return nil
	}
	if data := b.Get([]byte(id)); data != nil {
		w, err := decodeWatch(data)
		if err != nil {
			return err
		}
		if w.Fence > token {
			return staleWatch(w.Fence, token)
		}
	}
	return nil
}

func decodeWatch(data []byte) (watchstore.Watch, error) {
	var w watchstore.Watch
	if err := json.Unmarshal(data, &w); err != nil {
		return w, fmt.Errorf("decode watch: %w", err)
	}
	return w, nil
}

// PutWatch creates or replaces the watch of w.ID, unless its lease has
// handed out a newer token than w.Fence, or the stored watch holds one.
func (s *Store) PutWatch(ctx context.Context, w watchstore.Watch) error {
	if ctx.Err() != nil {
		return fmt.Errorf("put watch %s: %w", w.ID, s.notBegun(ctx))
	}
	if err := checkWatchID("put watch", w.ID); err != nil {
		return err
	}
	data, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("put watch %s: %w", w.ID, err)
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketWatches)
		if err != nil {
			return err
		}
		if err := fencedWatch(tx, b, w.ID, w.Fence); err != nil {
			return err
		}
		return b.Put([]byte(w.ID), data)
	})
	if err != nil {
		return fmt.Errorf("put watch %s: %w", w.ID, err)
	}
	return nil
}

// Watch returns the watch of run id, or an error wrapping
// deploy.ErrNotFound (code NotFound).
func (s *Store) Watch(ctx context.Context, id string) (watchstore.Watch, error) {
	if err := ctx.Err(); err != nil {
		return watchstore.Watch{}, fmt.Errorf("get watch %s: %w", id, err)
	}
	var w watchstore.Watch
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var data []byte
		if b := tx.Bucket(bucketWatches); b != nil {
			data = b.Get([]byte(id))
		}
		if data == nil {
			return errs.Wrap(errs.NotFound, deploy.ErrNotFound, "no watch of %s", id)
		}
		var err error
		w, err = decodeWatch(data)
		return err
	})
	if errors.Is(err, deploy.ErrNotFound) {
		return watchstore.Watch{}, err
	}
	if err != nil {
		return watchstore.Watch{}, fmt.Errorf("get watch %s: %w", id, err)
	}
	return w, nil
}

// Watches returns every watch kept, by ID.
func (s *Store) Watches(ctx context.Context) ([]watchstore.Watch, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list watches: %w", err)
	}
	var out []watchstore.Watch
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWatches)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, data []byte) error {
			w, err := decodeWatch(data)
			if err != nil {
				return err
			}
			out = append(out, w)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list watches: %w", err)
	}
	return out, nil
}

// DeleteWatch removes the watch of run id, unless its lease has handed out
// a newer token than fence, or the stored watch holds one.
func (s *Store) DeleteWatch(ctx context.Context, id string, fence int64) error {
	if ctx.Err() != nil {
		return fmt.Errorf("delete watch %s: %w", id, s.notBegun(ctx))
	}
	if err := checkWatchID("delete watch", id); err != nil {
		return err
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWatches)
		if err := fencedWatch(tx, b, id, fence); err != nil || b == nil {
			return err
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete watch %s: %w", id, err)
	}
	return nil
}
