package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// PutRecord creates or replaces the record with r.ID, unless the stored
// record carries a greater fencing token, or the lease of its app+env has
// handed out one since r's (see deploy.Store). The store keeps its own
// copy: changing r afterwards changes nothing stored.
func (s *Store) PutRecord(ctx context.Context, r *deploy.Record) error {
	if ctx.Err() != nil {
		return fmt.Errorf("put record: %w", s.notBegun(ctx))
	}
	if r == nil || r.ID == "" {
		return errs.New(errs.Invalid, "put record: the record has no id")
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("put record %s: %w", r.ID, err)
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		recs, idx := tx.Bucket(bucketRecords), tx.Bucket(bucketRecordIndex)
		// Checked in the transaction that writes: Acquire's token is
		// persisted in one of its own, so a write is either before the
		// lease was taken (and read by its new holder) or refused.
		newest, err := fence(tx, deploy.LeaseKey(r.App, r.Env))
		if err != nil {
			return err
		}
		if newest > r.Fence {
			return deploy.StaleRecord(newest, r.Fence)
		}
		id := []byte(r.ID)
		if old := recs.Get(id); old != nil {
			// Started may have changed: drop the old index entry whatever
			// it was, rather than trusting the new record.
			var o struct {
				Started time.Time `json:"started"`
				Fence   int64     `json:"fence"`
			}
			if err := json.Unmarshal(old, &o); err != nil {
				return fmt.Errorf("decode stored record: %w", err)
			}
			if o.Fence > r.Fence {
				return deploy.StaleRecord(o.Fence, r.Fence)
			}
			if err := idx.Delete(recordIndexKey(o.Started, r.ID)); err != nil {
				return err
			}
		}
		if err := idx.Put(recordIndexKey(r.Started, r.ID), encodeRecordMeta(r)); err != nil {
			return err
		}
		return recs.Put(id, data)
	})
	if err != nil {
		return fmt.Errorf("put record %s: %w", r.ID, err)
	}
	return nil
}

// Record returns the record with id, or an error wrapping deploy.ErrNotFound
// (code NotFound). The caller owns the result.
func (s *Store) Record(ctx context.Context, id string) (*deploy.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get record %s: %w", id, err)
	}
	var r *deploy.Record
	err := s.view(ctx, func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketRecords).Get([]byte(id))
		if data == nil {
			return errs.Wrap(errs.NotFound, deploy.ErrNotFound, "no deploy record %s", id)
		}
		var err error
		r, err = decodeRecord(data)
		return err
	})
	if errors.Is(err, deploy.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("get record %s: %w", id, err)
	}
	return r, nil
}

// Records returns the records matching f, newest first by Started, records
// started at the same instant by ID descending. It walks an index in that
// order and stops at f.Limit or f.Since, decoding only the records it
// returns.
func (s *Store) Records(ctx context.Context, f deploy.Filter) ([]*deploy.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	var since []byte
	if !f.Since.IsZero() {
		since = timeKey(f.Since, 0)
	}
	var out []*deploy.Record
	err := s.view(ctx, func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		c := tx.Bucket(bucketRecordIndex).Cursor()
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
			if f.App != "" || f.Env != "" || f.Outcome != "" {
				ok, err := metaMatches(v, f)
				if err != nil {
					return fmt.Errorf("index entry %q: %w", k, err)
				}
				if !ok {
					continue
				}
			}
			id := k[timeKeyLen:]
			data := recs.Get(id)
			if data == nil {
				return fmt.Errorf("index names record %s, which is missing", id)
			}
			r, err := decodeRecord(data)
			if err != nil {
				return err
			}
			out = append(out, r)
			if f.Limit > 0 && len(out) == f.Limit {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	return out, nil
}

func decodeRecord(data []byte) (*deploy.Record, error) {
	var r deploy.Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return &r, nil
}

func recordIndexKey(started time.Time, id string) []byte {
	return append(timeKey(started, len(id)), id...)
}

// metaMatches reports whether the index entry meta (see encodeRecordMeta)
// matches f. It compares the bytes in place: a listing of one app/env
// walks the entries of every other one, and a string made of each of
// their fields cost more than the rest of the walk.
func metaMatches(meta []byte, f deploy.Filter) (bool, error) {
	ok := true
	for _, want := range []string{f.App, f.Env, string(f.Outcome)} {
		n, w := binary.Uvarint(meta)
		if w <= 0 || uint64(len(meta)-w) < n {
			return false, errors.New("malformed record metadata")
		}
		if want != "" && string(meta[w:w+int(n)]) != want {
			ok = false
		}
		meta = meta[w+int(n):]
	}
	return ok, nil
}

// recordMeta is what the index keeps of a record to filter on.
type recordMeta struct {
	app, env, outcome string
}

func (m recordMeta) matches(f deploy.Filter) bool {
	return (f.App == "" || f.App == m.app) &&
		(f.Env == "" || f.Env == m.env) &&
		(f.Outcome == "" || string(f.Outcome) == m.outcome)
}

// encodeRecordMeta writes app, env and outcome, each as a uvarint length
// and its bytes.
func encodeRecordMeta(r *deploy.Record) []byte {
	var b []byte
	for _, s := range []string{r.App, r.Env, string(r.Outcome)} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func decodeRecordMeta(b []byte) (recordMeta, error) {
	var f [3]string
	for i := range f {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return recordMeta{}, errors.New("malformed record metadata")
		}
		f[i] = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	return recordMeta{app: f[0], env: f[1], outcome: f[2]}, nil
}

// MarkUndelivered sets Undelivered of the record with id to n, in one
// transaction, leaving the rest of the record and its index as they are.
// It returns an error wrapping deploy.ErrNotFound (code NotFound) when
// there is no such record.
func (s *Store) MarkUndelivered(ctx context.Context, id string, n deploy.Undelivered) error {
	if ctx.Err() != nil {
		return fmt.Errorf("mark record %s undelivered: %w", id, s.notBegun(ctx))
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecords)
		data := recs.Get([]byte(id))
		if data == nil {
			return errs.Wrap(errs.NotFound, deploy.ErrNotFound, "no deploy record %s", id)
		}
		r, err := decodeRecord(data)
		if err != nil {
			return err
		}
		r.Undelivered = &n
		out, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return recs.Put([]byte(id), out)
	})
	if errors.Is(err, deploy.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("mark record %s undelivered: %w", id, err)
	}
	return nil
}
