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

// maxTrimBatch bounds the index entries a trim handles in one write
// transaction. bbolt has one writer: a trim in a single transaction held
// every deploy, lock and audit write back for as long as it ran (0.7 s for
// 200,000 audit entries, seconds for millions), so a /lock could stall
// behind the hourly trim. A batch this size takes tens of milliseconds;
// the writes waiting meanwhile go in between two batches.
const maxTrimBatch = 10_000

// TrimRecords deletes the finished records that started before before,
// except the newest keep of each app+env, and returns how many it deleted.
// A running record stays whatever its age: recovery reports it. So does
// the interrupted run no later run resolved (see deploy.Unresolved):
// status shows it, and what to do, until one does; and so do the live run
// and the record that shows its rollback's release running (see
// deploy.Retained), which status, the alert and a rollback read.
//
// It walks the index newest first in batches, each its own write
// transaction that decides and deletes, so other writes go in between.
// A record written meanwhile above where the walk has reached is not
// counted: a new record is the newest, and would only have made older
// ones deletable; one that finished there waits for the next trim. On an
// error it returns how many the batches before it deleted. It drops the
// fencing counters of runs' leases no lease in force holds, too (see
// pruneRunFences).
func (s *Store) TrimRecords(ctx context.Context, before time.Time, keep int) (int, error) {
	if ctx.Err() != nil {
		return 0, fmt.Errorf("trim records: %w", s.notBegun(ctx))
	}
	if keep < 0 {
		return 0, errs.New(errs.Invalid, "trim records: keep %d is negative", keep)
	}
	t := &recordTrim{cut: timeKey(before, 0), keep: keep, seen: map[[2]string]int{}, kept: map[string]bool{}, decided: map[[2]string]bool{}, live: map[[2]string]*deploy.Retained{}}
	n := 0
	for !t.done {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("trim records: %w", err)
		}
		d := 0
		err := s.update(ctx, func(tx *bolt.Tx) error {
			var err error
			d, err = t.batch(tx, s.trimBatch)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("trim records: %w", err)
		}
		n += d
		if s.trimmed != nil {
			s.trimmed()
		}
	}
	if err := s.pruneFences(ctx); err != nil {
		return n, fmt.Errorf("trim records: %w", err)
	}
	return n, nil
}

// recordTrim is what TrimRecords carries from one batch to the next.
type recordTrim struct {
	cut  []byte // timeKey of before
	keep int
	// seen counts the index entries met of each app+env.
	seen map[[2]string]int
	// kept holds the IDs counted among the newest keep of their app+env:
	// a record whose Started moved back between batches is met again
	// further down, and counted twice it would let one more record of
	// its app+env go than keep allows. A record met past the newest keep
	// changes nothing by being counted again.
	kept map[string]bool
	// decided holds the app+envs whose unresolved interrupted run, if
	// any, the walk has met: the first interrupted, succeeded or
	// unchanged record met, newest first, tells.
	decided map[[2]string]bool
	// live tells, of each app+env, the records its live run and a
	// rollback from it read.
	live map[[2]string]*deploy.Retained
	// last is the last index entry examined; the next batch begins below
	// it, whether or not it is still there.
	last []byte
	done bool
}

// batch examines up to size index entries below t.last, deletes those of
// the records to trim and returns how many it deleted.
func (t *recordTrim) batch(tx *bolt.Tx, size int) (int, error) {
	recs, idx := tx.Bucket(bucketRecords), tx.Bucket(bucketRecordIndex)
	c := idx.Cursor()
	var k, v []byte
	if t.last == nil {
		k, v = c.Last()
	} else if k, _ = c.Seek(t.last); k == nil { // t.last or, if it went, the entry above it
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	var drop [][]byte
	var prev []byte
	for examined := 0; k != nil && examined < size; k, v = c.Prev() {
		examined++
		prev = k
		m, err := decodeRecordMeta(v)
		if err != nil {
			return 0, fmt.Errorf("index entry %q: %w", k, err)
		}
		id := string(k[timeKeyLen:])
		if t.kept[id] {
			continue
		}
		scope := [2]string{m.app, m.env}
		stuck := false
		if !t.decided[scope] {
			switch deploy.Outcome(m.outcome) {
			case deploy.OutcomeInterrupted:
				t.decided[scope], stuck = true, true
			case deploy.OutcomeSucceeded, deploy.OutcomeUnchanged:
				t.decided[scope] = true
			}
		}
		needed, err := t.needed(recs, scope, id, m)
		if err != nil {
			return 0, err
		}
		if t.seen[scope]++; t.seen[scope] <= t.keep || stuck || needed {
			t.kept[id] = true
			continue
		}
		if bytes.Compare(k[:timeKeyLen], t.cut) < 0 && m.outcome != string(deploy.OutcomeRunning) {
			drop = append(drop, bytes.Clone(k)) // k lives in pages the deletes change
		}
	}
	if k == nil {
		t.done = true
	} else {
		t.last = bytes.Clone(prev)
	}
	for _, k := range drop {
		if err := recs.Delete(k[timeKeyLen:]); err != nil {
			return 0, err
		}
		if err := idx.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(drop), nil
}

// needed reports whether the record id, of scope and whose index entry
// says m, is one the live run of scope or a rollback from it reads (see
// deploy.Retained). It reads the record only when that needs more than
// its outcome.
func (t *recordTrim) needed(recs *bolt.Bucket, scope [2]string, id string, m recordMeta) (bool, error) {
	k := t.live[scope]
	if k == nil {
		k = &deploy.Retained{}
		t.live[scope] = k
	}
	if k.Done() {
		return false, nil
	}
	r := &deploy.Record{Outcome: deploy.Outcome(m.outcome)}
	if k.NeedsRecord(r.Outcome) {
		data := recs.Get([]byte(id))
		if data == nil {
			return false, fmt.Errorf("record %s: indexed but not stored", id)
		}
		var err error
		if r, err = decodeRecord(data); err != nil {
			return false, fmt.Errorf("record %s: %w", id, err)
		}
	}
	return k.Keep(r), nil
}

// TrimAudit deletes the audit entries timed before before and returns how
// many it deleted. It deletes the oldest first in batches, each its own
// write transaction, so other writes go in between; on an error it
// returns how many the batches before it deleted.
func (s *Store) TrimAudit(ctx context.Context, before time.Time) (int, error) {
	if ctx.Err() != nil {
		return 0, fmt.Errorf("trim audit: %w", s.notBegun(ctx))
	}
	cut := timeKey(before, 0)
	n := 0
	for more := true; more; {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("trim audit: %w", err)
		}
		d := 0
		err := s.update(ctx, func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			var drop [][]byte
			c := b.Cursor()
			k, _ := c.First()
			for ; k != nil && len(drop) < s.trimBatch && bytes.Compare(k[:timeKeyLen], cut) < 0; k, _ = c.Next() {
				drop = append(drop, bytes.Clone(k))
			}
			more = k != nil && bytes.Compare(k[:timeKeyLen], cut) < 0
			for _, k := range drop {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			d = len(drop)
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("trim audit: %w", err)
		}
		n += d
		if s.trimmed != nil {
			s.trimmed()
		}
	}
	if err := s.pruneFences(ctx); err != nil {
		return n, fmt.Errorf("trim audit: %w", err)
	}
	return n, nil
}
