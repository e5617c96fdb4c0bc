package embedded

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TrimRecords deletes the finished records that started before before,
// except the newest keep of each app+env, and returns how many it deleted.
// A running record stays whatever its age: recovery reports it.
func (s *Store) TrimRecords(ctx context.Context, before time.Time, keep int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("trim records: %w", err)
	}
	if keep < 0 {
		return 0, errs.New(errs.Invalid, "trim records: keep %d is negative", keep)
	}
	cut := timeKey(before, 0)
	n := 0
	err := s.update(ctx, func(tx *bolt.Tx) error {
		recs, idx := tx.Bucket(bucketRecords), tx.Bucket(bucketRecordIndex)
		seen := map[[2]string]int{}
		var drop [][]byte
		c, i := idx.Cursor(), 0
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if i++; i%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			m, err := decodeRecordMeta(v)
			if err != nil {
				return fmt.Errorf("index entry %q: %w", k, err)
			}
			scope := [2]string{m.app, m.env}
			seen[scope]++
			if seen[scope] > keep && bytes.Compare(k[:timeKeyLen], cut) < 0 && m.outcome != string(deploy.OutcomeRunning) {
				drop = append(drop, bytes.Clone(k)) // k lives in pages the deletes change
			}
		}
		for _, k := range drop {
			if err := recs.Delete(k[timeKeyLen:]); err != nil {
				return err
			}
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
		n = len(drop)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("trim records: %w", err)
	}
	return n, nil
}

// TrimAudit deletes the audit entries timed before before and returns how
// many it deleted.
func (s *Store) TrimAudit(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("trim audit: %w", err)
	}
	cut := timeKey(before, 0)
	n := 0
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var drop [][]byte
		c := tx.Bucket(bucketAudit).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:timeKeyLen], cut) < 0; k, _ = c.Next() {
			if len(drop)%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			drop = append(drop, bytes.Clone(k))
		}
		for _, k := range drop {
			if err := c.Bucket().Delete(k); err != nil {
				return err
			}
		}
		n = len(drop)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("trim audit: %w", err)
	}
	return n, nil
}
