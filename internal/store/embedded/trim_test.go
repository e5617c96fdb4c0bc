package embedded_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/storetest"
)

// TestTrimBatches runs the contract's trims in batches small enough that
// every trim takes several, of sizes that divide its counts and that do
// not: what they leave is what one transaction left.
func TestTrimBatches(t *testing.T) {
	for _, n := range []int{1, 3, 10} {
		t.Run(fmt.Sprintf("batch %d", n), func(t *testing.T) {
			storetest.RunTrim(t, func(t *testing.T, now func() time.Time) storetest.Store {
				s := openStore(t, filepath.Join(t.TempDir(), "switchman.db"), now)
				embedded.SetTrimBatch(s, n, nil)
				return s
			})
		})
	}
}

// TestTrimLetsWritesThrough: a write made while a trim is under way goes
// in before the trim has finished. bbolt has one writer, and a trim in one
// transaction held a /lock or a deploy's record back until it was done.
// The write is made once the trim's first batch is committed; the trim
// must then still have entries to delete.
func TestTrimLetsWritesThrough(t *testing.T) {
	const total, batch = 100, 10
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	cut := now.Add(-24 * time.Hour)
	old := func(i int) time.Time { return cut.Add(-time.Duration(total-i) * time.Minute) }

	trims := []struct {
		name string
		fill func(t *testing.T, s *embedded.Store)
		trim func(ctx context.Context, s *embedded.Store) (int, error)
		// left counts what is still to delete.
		left func(ctx context.Context, s *embedded.Store) (int, error)
	}{
		{
			name: "TrimAudit",
			fill: func(t *testing.T, s *embedded.Store) {
				for i := range total {
					if err := s.AppendAudit(t.Context(), &audit.Entry{Time: old(i), User: "ana", Command: fmt.Sprintf("status %d", i), Decision: audit.Allowed}); err != nil {
						t.Fatal(err)
					}
				}
			},
			trim: func(ctx context.Context, s *embedded.Store) (int, error) { return s.TrimAudit(ctx, cut) },
			left: func(ctx context.Context, s *embedded.Store) (int, error) {
				entries, err := s.Audit(ctx, audit.Query{})
				n := 0
				for _, e := range entries {
					if e.Time.Before(cut) {
						n++
					}
				}
				return n, err
			},
		},
		{
			name: "TrimRecords",
			fill: func(t *testing.T, s *embedded.Store) {
				for i := range total {
					// Failed runs: none is the live one, which a trim keeps.
					r := &deploy.Record{ID: fmt.Sprintf("d%03d", i), App: "accounting", Env: "production", Started: old(i), Outcome: deploy.OutcomeFailed}
					if err := s.PutRecord(t.Context(), r); err != nil {
						t.Fatal(err)
					}
				}
			},
			trim: func(ctx context.Context, s *embedded.Store) (int, error) { return s.TrimRecords(ctx, cut, 0) },
			left: func(ctx context.Context, s *embedded.Store) (int, error) {
				recs, err := s.Records(ctx, deploy.Filter{})
				n := 0
				for _, r := range recs {
					if r.Started.Before(cut) {
						n++
					}
				}
				return n, err
			},
		},
	}
	writes := []struct {
		name  string
		write func(ctx context.Context, s *embedded.Store) error
		// check says whether the write is in the store.
		check func(ctx context.Context, s *embedded.Store) error
	}{
		{
			name: "PutLock",
			write: func(ctx context.Context, s *embedded.Store) error {
				return s.PutLock(ctx, deploy.Lock{App: "accounting", Env: "production", Owner: "ana", Reason: "db maintenance"})
			},
			check: func(ctx context.Context, s *embedded.Store) error {
				locks, err := s.Locks(ctx)
				if err == nil && len(locks) != 1 {
					err = fmt.Errorf("got %d locks, want 1", len(locks))
				}
				return err
			},
		},
		{
			name: "AppendAudit",
			write: func(ctx context.Context, s *embedded.Store) error {
				return s.AppendAudit(ctx, &audit.Entry{User: "ana", Command: "lock accounting production", Decision: audit.Allowed})
			},
			check: func(ctx context.Context, s *embedded.Store) error {
				entries, err := s.Audit(ctx, audit.Query{Limit: 1})
				if err == nil && (len(entries) != 1 || entries[0].Command != "lock accounting production") {
					err = fmt.Errorf("got newest entries %+v, want the lock", entries)
				}
				return err
			},
		},
		{
			name: "PutRecord",
			write: func(ctx context.Context, s *embedded.Store) error {
				return s.PutRecord(ctx, &deploy.Record{ID: "new", App: "accounting", Env: "production", Started: now, Outcome: deploy.OutcomeRunning})
			},
			check: func(ctx context.Context, s *embedded.Store) error {
				_, err := s.Record(ctx, "new")
				return err
			},
		},
	}
	for _, tr := range trims {
		for _, w := range writes {
			t.Run(tr.name+"/"+w.name, func(t *testing.T) {
				ctx := t.Context()
				s := openStore(t, filepath.Join(t.TempDir(), "switchman.db"), func() time.Time { return now })
				tr.fill(t, s)
				batches, left := 0, -1
				var werr, lerr error
				embedded.SetTrimBatch(s, batch, func() {
					if batches++; batches == 1 {
						werr = w.write(ctx, s)
						left, lerr = tr.left(ctx, s)
					}
				})
				n, err := tr.trim(ctx, s)
				if err != nil || n != total {
					t.Fatalf("%s: deleted %d, %v; want %d", tr.name, n, err, total)
				}
				if werr != nil || lerr != nil {
					t.Fatalf("%s during the trim: %v; counting what is left: %v", w.name, werr, lerr)
				}
				if left <= 0 {
					t.Errorf("%s went in with %d of %d entries left to trim; want it in before the trim has finished", w.name, left, total)
				}
				if err := w.check(ctx, s); err != nil {
					t.Errorf("%s after the trim: %v", w.name, err)
				}
			})
		}
	}
}

// TestTrimRecordsCountsMovedRecordOnce: a record whose Started moves
// back while a trim is under way is met again further down the index. It
// counts once among the newest of its app/env: counted twice, it would
// leave one fewer than keep.
func TestTrimRecordsCountsMovedRecordOnce(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	s := openStore(t, filepath.Join(t.TempDir(), "switchman.db"), func() time.Time { return now })
	put := func(id string, age time.Duration) {
		t.Helper()
		r := &deploy.Record{ID: id, App: "accounting", Env: "production", Started: now.Add(-age), Outcome: deploy.OutcomeSucceeded}
		if err := s.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		put(id, time.Duration(40+i)*day)
	}
	batches := 0
	embedded.SetTrimBatch(s, 1, func() {
		if batches++; batches == 1 {
			put("a", 50*day) // below e now
		}
	})
	n, err := s.TrimRecords(ctx, now.Add(-30*day), 2)
	if err != nil || n != 3 {
		t.Errorf("TrimRecords: deleted %d, %v; want 3 (c, d, e)", n, err)
	}
	recs, err := s.Records(ctx, deploy.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.ID)
	}
	if !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("Records after the trim: got %v, want [b a]", got)
	}
}

// BenchmarkTrimAudit trims 200,000 audit entries, the oldest of 210,000.
// It reports the longest batch too: how long the trim held bbolt's one
// writer, and every other write, at a stretch.
func BenchmarkTrimAudit(b *testing.B) {
	var longest, began time.Duration
	clock := time.Now()
	batchDone := func() {
		d := time.Since(clock)
		longest, began = max(longest, d-began), d
	}
	const total, trimmed = 210_000, 200_000
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	e := audit.Entry{User: "ana", Platform: "slack", Channel: "C123", Command: "/deploy accounting production 2025.03.14-1",
		Action: "deploy", App: "accounting", Env: "production", Decision: audit.Allowed}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		s, err := embedded.Open(filepath.Join(b.TempDir(), fmt.Sprintf("switchman-%d.db", i)), embedded.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := embedded.AppendAuditBatch(b.Context(), s, total, func(i int, c *audit.Entry) {
			*c = e
			c.Time = t0.Add(time.Duration(i) * time.Second)
		}); err != nil {
			b.Fatal(err)
		}
		embedded.SetTrimBatch(s, embedded.MaxTrimBatch, batchDone)
		b.StartTimer()
		clock, began = time.Now(), 0
		n, err := s.TrimAudit(b.Context(), t0.Add(trimmed*time.Second))
		if err != nil || n != trimmed {
			b.Fatalf("TrimAudit: deleted %d, %v; want %d", n, err, trimmed)
		}
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(longest)/float64(time.Millisecond), "ms/longest-batch")
}
