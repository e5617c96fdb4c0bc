package embedded

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/audit"
)

// MaxTrimBatch is how many index entries a trim handles per write
// transaction outside tests.
const MaxTrimBatch = maxTrimBatch

// SetTrimBatch makes s's trims handle n index entries per write
// transaction, and call trimmed, if not nil, after each one is committed.
func SetTrimBatch(s *Store, n int, trimmed func()) {
	s.trimBatch, s.trimmed = n, trimmed
}

// AppendAuditBatch appends n entries, made by fill, in one transaction:
// a benchmark's hundreds of thousands would take minutes one fsync each.
func AppendAuditBatch(ctx context.Context, s *Store, n int, fill func(i int, e *audit.Entry)) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		for i := range n {
			var e audit.Entry
			fill(i, &e)
			if err := putAudit(b, &e); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetLink makes Open link a new store into place with link, until restore
// is called.
func SetLink(link func(oldname, newname string) error) (restore func()) {
	old := linkStore
	linkStore = link
	return func() { linkStore = old }
}

// FenceKeys returns the lease keys whose fencing counters s keeps.
func FenceKeys(s *Store) ([]string, error) {
	var keys []string
	err := s.view(context.Background(), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFences).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	return keys, err
}

// TxID returns the id of the last transaction s's file committed.
func TxID(s *Store) (int, error) {
	var id int
	err := s.view(context.Background(), func(tx *bolt.Tx) error {
		id = tx.ID()
		return nil
	})
	return id, err
}

// PageOf returns the offset in s's file of the page pick names, as s's
// last transaction left it.
func PageOf(s *Store, pick func(tx *bolt.Tx) (int, error)) (int64, error) {
	var off int64
	err := s.view(context.Background(), func(tx *bolt.Tx) error {
		id, err := pick(tx)
		off = int64(id) * int64(tx.DB().Info().PageSize)
		return err
	})
	return off, err
}

// Update runs fn in a write transaction of s's.
func Update(s *Store, fn func(tx *bolt.Tx) error) error {
	return s.update(context.Background(), fn)
}
