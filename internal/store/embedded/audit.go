package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/errs"
)

// AppendAudit appends e to the audit trail. It sets e.Seq to the next
// sequence number, and e.Time to the store's clock if it is zero; on error
// e is left unchanged.
func (s *Store) AppendAudit(ctx context.Context, e *audit.Entry) error {
	if ctx.Err() != nil {
		return fmt.Errorf("append audit: %w", s.notBegun(ctx))
	}
	if e == nil {
		return errs.New(errs.Invalid, "append audit: nil entry")
	}
	c := *e
	if c.Time.IsZero() {
		c.Time = s.now()
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		return putAudit(tx.Bucket(bucketAudit), &c)
	})
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	e.Seq, e.Time = c.Seq, c.Time
	return nil
}

// putAudit stores c in b under the next sequence number, which it sets.
func putAudit(b *bolt.Bucket, c *audit.Entry) error {
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	c.Seq = seq
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return b.Put(append(timeKey(c.Time, 8), u64(seq)...), data)
}

// Audit returns the entries matching q, newest first: by Time, entries of
// the same instant by Seq descending. Entries are keyed by time, so a Since
// query reads only the entries it returns (and those of other apps).
func (s *Store) Audit(ctx context.Context, q audit.Query) ([]audit.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	var since []byte
	if !q.Since.IsZero() {
		since = timeKey(q.Since, 0)
	}
	// An entry of another app is told by its bytes, not decoded: a
	// listing of one app walks the entries of every other one, and
	// decoding them cost nearly all of its time. Entries are written by
	// putAudit alone, with encoding/json, which writes App as it writes
	// appField; a match is decoded and checked all the same.
	var appField []byte
	if q.App != "" {
		quoted, err := json.Marshal(q.App)
		if err != nil {
			return nil, fmt.Errorf("read audit: %w", err)
		}
		appField = append([]byte(`"app":`), quoted...)
	}
	var out []audit.Entry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		n := 0
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if n++; n%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if since != nil && bytes.Compare(k[:timeKeyLen], since) < 0 {
				return nil
			}
			if appField != nil && !bytes.Contains(v, appField) {
				continue
			}
			var e audit.Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode entry %x: %w", k, err)
			}
			if q.App != "" && e.App != q.App {
				continue
			}
			out = append(out, e)
			if q.Limit > 0 && len(out) == q.Limit {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	return out, nil
}
