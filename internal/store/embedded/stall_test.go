package embedded

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
)

// TestStalledDiskEndsWithContext: a write that cannot reach the disk (a
// hung disk holds bbolt's one writer in fdatasync; here a transaction that
// stays open holds it) returns when its context ends, as a Redis store
// that does not answer does, rather than block its caller for ever.
func TestStalledDiskEndsWithContext(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "switchman.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stalled, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			if err := stalled.Rollback(); err != nil {
				t.Errorf("Rollback: %v", err)
			}
		}
	}
	t.Cleanup(func() {
		release()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	for _, tc := range []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"AppendAudit", func(ctx context.Context) error {
			return s.AppendAudit(ctx, &audit.Entry{User: "ana", Command: "/status", Decision: audit.Allowed})
		}},
		{"PutRecord", func(ctx context.Context) error {
			return s.PutRecord(ctx, &deploy.Record{ID: "d1", App: "accounting", Env: "production", Outcome: deploy.OutcomeRunning})
		}},
		{"PutLock", func(ctx context.Context) error {
			return s.PutLock(ctx, deploy.Lock{App: "accounting", Owner: "ana"})
		}},
		{"ReplaceLock", func(ctx context.Context) error {
			_, _, err := s.ReplaceLock(ctx, nil, deploy.Lock{App: "accounting", Owner: "ana"})
			return err
		}},
		{"Acquire", func(ctx context.Context) error {
			_, err := s.Acquire(ctx, "deploy:accounting/production", "bot-1", time.Minute)
			return err
		}},
		{"SetOnce", func(ctx context.Context) error {
			_, err := s.SetOnce(ctx, "slack:Ev01", time.Hour)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tc.op(ctx) }()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("got %v, want an error wrapping context.DeadlineExceeded", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still waiting for the disk 10s after its context ended")
			}
		})
	}

	// Once the disk answers, so does the store.
	release()
	l, err := s.Acquire(t.Context(), "deploy:billing/production", "bot-1", time.Minute)
	if err != nil {
		t.Fatalf("Acquire once the disk answers: %v", err)
	}
	if err := l.Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := s.AppendAudit(t.Context(), &audit.Entry{User: "ana", Command: "/status", Decision: audit.Allowed}); err != nil {
		t.Errorf("AppendAudit once the disk answers: %v", err)
	}
}

// TestStalledAcquireHoldsUpNoLease: an Acquire waiting for the disk to
// take its token does not hold up the leases already held, whose Check,
// Renew, Release and Holder touch no disk: with Redis, another key's
// acquisition holds up none of them either. A running deploy whose
// renewals waited behind it would find its lease expired once the disk
// answered.
func TestStalledAcquireHoldsUpNoLease(t *testing.T) {
	var held deploy.Lease
	s := stalledAcquire(t, "deploy:billing/production", func(s *Store) {
		var err error
		if held, err = s.Acquire(t.Context(), "deploy:accounting/production", "bot-1", time.Minute); err != nil {
			t.Fatal(err)
		}
	})

	for _, tc := range []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"Check", held.Check},
		{"Renew", held.Renew},
		{"Holder", func(ctx context.Context) error {
			h, err := s.Holder(ctx, "deploy:accounting/production")
			if err == nil && h != "bot-1" {
				err = errors.New("holder " + h + ", want bot-1")
			}
			return err
		}},
		{"Release", held.Release},
	} {
		done := make(chan error, 1)
		go func() { done <- tc.op(t.Context()) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still waiting after 10s for an Acquire of another key", tc.name)
		}
	}
}

// TestStalledAcquireQueueEndsWithContext: an Acquire queued behind
// another waiting for a stalled disk (a deploy's, without a deadline)
// returns when its own context ends, as any other write does, rather than
// wait for the disk as long as the one before it. It wrote nothing, and
// says so as a write given up behind a stalled disk does: its caller was
// told the outcome was not known.
func TestStalledAcquireQueueEndsWithContext(t *testing.T) {
	// The first holds its place in the queue, and waits for the disk.
	s := stalledAcquire(t, "deploy:accounting/production", nil)

	for _, tc := range []struct{ name, key string }{
		{"another key", "deploy:billing/production"},
		{"the same key", "deploy:accounting/production"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := s.Acquire(ctx, tc.key, "bot-2", time.Minute)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, deploy.ErrStoreNotRun) {
					t.Errorf("got %v, want an error wrapping context.DeadlineExceeded and deploy.ErrStoreNotRun", err)
				}
				said := errs.Message(deploy.OutcomeUnknown(err, "whether the lease was taken", "look"))
				if !strings.HasSuffix(said, "nothing was changed") {
					t.Errorf("told: got %q, want it to end with nothing was changed", said)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still waiting behind the first Acquire 10s after its context ended")
			}
		})
	}
}

// TestStalledSetOnceSetsNothingLate: a SetOnce that gave up as the disk
// did not answer sets nothing once the disk answers. Its caller, told it
// failed, may have undone it in the meantime (a ForgetOnce that found no
// key yet, its transaction run first): a key set after that would make
// the resend of a delivery refused for its sender to send again a
// duplicate.
func TestStalledSetOnceSetsNothingLate(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(ctx context.Context, s *Store) error
	}{
		{"SetOnce", func(ctx context.Context, s *Store) error {
			_, err := s.SetOnce(ctx, "sentry-webhook:1", time.Hour)
			return err
		}},
		{"SetOnceToken", func(ctx context.Context, s *Store) error {
			_, err := s.SetOnceToken(ctx, "sentry-webhook:1", "tok-1", time.Hour)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, stalled := openStalled(t)
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			if err := tc.set(ctx, s); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("with the disk stalled: got %v, want an error wrapping context.DeadlineExceeded", err)
			}
			if err := stalled.Rollback(); err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			waitAbandonedTx(t)
			if ok, err := s.SetOnce(t.Context(), "sentry-webhook:1", time.Hour); !ok || err != nil {
				t.Errorf("SetOnce once the disk answers: got %v, %v, want true (nothing set by the call that gave up)", ok, err)
			}
		})
	}
}

// openStalled opens a store closed at the test's end, and stalls its disk
// as TestStalledDiskEndsWithContext does: the write transaction returned,
// left open, holds bbolt's one writer until the test rolls it back.
func openStalled(t *testing.T) (*Store, *bolt.Tx) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "switchman.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	stalled, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	return s, stalled
}

// waitAbandonedTx waits until no transaction whose caller gave up is left
// waiting for the disk or running.
func waitAbandonedTx(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if !txUnderWay() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a transaction whose caller gave up still runs 10s after the disk answered")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// txUnderWay reports whether a transaction begun by tx (whose caller may
// have gone) waits for the disk or runs.
func txUnderWay() bool {
	const frame = "embedded.(*Store).tx.func"
	buf := make([]byte, 1<<20)
	return bytes.Contains(buf[:runtime.Stack(buf, true)], []byte(frame))
}

// TestAcquireEndedAsItsTurnCameWritesNothing: an Acquire whose context
// ends just as the Acquire before it frees the queue, so that select may
// take the queue, begins no write of its token: it returns as not run,
// and leaves no transaction waiting for a stalled disk. It used to begin
// the write, which waited for the disk only to be dropped then.
func TestAcquireEndedAsItsTurnCameWritesNothing(t *testing.T) {
	waitAbandonedTx(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The clock, read once the queue is won, ends ctx then.
	armed := &atomic.Bool{}
	now := func() time.Time {
		if armed.CompareAndSwap(true, false) {
			cancel()
		}
		return time.Now()
	}
	s, err := Open(filepath.Join(t.TempDir(), "switchman.db"), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	stalled, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stalled.Rollback(); err != nil {
			t.Errorf("Rollback: %v", err)
		}
		waitAbandonedTx(t)
	})
	armed.Store(true)
	_, err = s.Acquire(ctx, "deploy:accounting/production", "bot-1", time.Minute)
	if !errors.Is(err, deploy.ErrStoreNotRun) || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want an error wrapping deploy.ErrStoreNotRun and context.Canceled", err)
	}
	if txUnderWay() {
		t.Error("a write of the token waits for the stalled disk; want none begun")
	}
}

// stalledAcquire opens a store, runs before on it (when set), stalls its
// disk (a write transaction left open) and starts an Acquire of key
// without a deadline, as a deploy's is; it returns once that Acquire has
// begun, and waits for the disk. The cleanup lets the disk answer, checks
// that the Acquire then succeeded, and closes the store.
func stalledAcquire(t *testing.T, key string, before func(s *Store)) *Store {
	t.Helper()
	// The clock tells when the Acquire has begun: it reads the time once
	// armed, before it writes its token.
	armed := &atomic.Bool{}
	began := make(chan struct{})
	now := func() time.Time {
		if armed.CompareAndSwap(true, false) {
			close(began)
		}
		return time.Now()
	}
	s, err := Open(filepath.Join(t.TempDir(), "switchman.db"), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(s)
	}
	stalled, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	acquired := make(chan error, 1)
	t.Cleanup(func() {
		if err := stalled.Rollback(); err != nil {
			t.Errorf("Rollback: %v", err)
		}
		if err := <-acquired; err != nil {
			t.Errorf("Acquire once the disk answered: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	armed.Store(true)
	go func() {
		_, err := s.Acquire(context.Background(), key, "bot-1", time.Minute)
		acquired <- err
	}()
	<-began
	return s
}

// TestListingWhileWritesFail: listing the locks or grants deletes the
// expired ones it meets. A delete that cannot reach the disk (here a
// stalled one: a transaction that stays open holds bbolt's one writer)
// failed the whole listing, so every permission check, the deploy gate
// and status failed for one expired entry nobody asked about. The listing
// now returns what is in force, the expired entries left out, logs the
// delete it left for later, and a later listing makes it.
func TestListingWhileWritesFail(t *testing.T) {
	clock := testclock.New(time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC))
	var log syncbuf.Buffer
	s, err := Open(filepath.Join(t.TempDir(), "switchman.db"), Options{Now: clock.Now, Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx := t.Context()
	now := clock.Now()
	for _, l := range []deploy.Lock{
		{App: "web", Env: "prod", Owner: "ana", Reason: "db work", Created: now},
		{App: "web", Env: "staging", Owner: "ana", Reason: "demo", Created: now, Expires: now.Add(time.Minute)},
	} {
		if err := s.PutLock(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []acl.Grant{
		{User: "bob", Role: "releaser", App: "web", GrantedBy: "ana", Created: now},
		{User: "cy", Role: "releaser", App: "web", GrantedBy: "ana", Created: now, Expires: now.Add(time.Minute)},
	} {
		if err := s.PutGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Minute)

	// Each listing has a deadline of its own, as each command has.
	list := func(d time.Duration) (locks, grants []string, err error) {
		lctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		ls, err := s.Locks(lctx)
		if err != nil {
			return nil, nil, err
		}
		for _, l := range ls {
			locks = append(locks, l.App+"/"+l.Env)
		}
		gctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		gs, err := s.Grants(gctx)
		if err != nil {
			return nil, nil, err
		}
		for _, g := range gs {
			grants = append(grants, g.User)
		}
		return locks, grants, nil
	}
	stored := func(bucket []byte) int {
		n := 0
		if err := s.view(ctx, func(tx *bolt.Tx) error { n = tx.Bucket(bucket).Stats().KeyN; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}

	stalled, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	locks, grants, err := list(300 * time.Millisecond)
	if err != nil {
		stalled.Rollback()
		t.Fatalf("listing while the disk stalls: got %v, want the locks and grants in force", err)
	}
	if !slices.Equal(locks, []string{"web/prod"}) || !slices.Equal(grants, []string{"bob"}) {
		t.Errorf("listing while the disk stalls: got locks %q grants %q, want [web/prod] [bob]", locks, grants)
	}
	if !strings.Contains(log.String(), "expired entries left for a later listing to delete") {
		t.Errorf("log: got %q, want the delete left for later said", log.String())
	}
	if n, m := stored(bucketLocks), stored(bucketGrants); n != 2 || m != 2 {
		t.Errorf("stored while the disk stalled: got %d locks %d grants, want 2 and 2 (nothing deleted)", n, m)
	}
	if err := stalled.Rollback(); err != nil {
		t.Fatal(err)
	}

	// With the disk back, the next listing deletes them.
	locks, grants, err = list(time.Minute)
	if err != nil || !slices.Equal(locks, []string{"web/prod"}) || !slices.Equal(grants, []string{"bob"}) {
		t.Errorf("listing: got %q %q, %v; want [web/prod] [bob], nil", locks, grants, err)
	}
	if n, m := stored(bucketLocks), stored(bucketGrants); n != 1 || m != 1 {
		t.Errorf("stored after a listing: got %d locks %d grants, want 1 and 1 (the expired ones deleted)", n, m)
	}
}

// stallDir names, in the environment of the test binary run again by
// TestStalledFdatasyncClose, the directory of its store.
const stallDir = "SWITCHMAN_TEST_STALL_DIR"

// TestStalledFdatasyncClose: a write whose fdatasync does not return (a
// hung network volume, a dying disk; here strace holds it for a minute)
// holds bbolt's writer lock, which closing the file waits for. A stopping
// bot waited as long as the disk stalled. Close now gives up after a
// while and says so, and the calls after it are refused as closed rather
// than queued behind the stalled write.
func TestStalledFdatasyncClose(t *testing.T) {
	if dir := os.Getenv(stallDir); dir != "" {
		stalledFdatasyncChild(t, filepath.Join(dir, "switchman.db"))
		return
	}
	trace := traced(t, "TestStalledFdatasyncClose", []string{stallDir + "=" + t.TempDir()}, "inject=fdatasync:delay_enter=60000000")
	if !strings.Contains(trace, "fdatasync(") {
		t.Errorf("strace saw no fdatasync:\n%s", trace)
	}
}

// stalledFdatasyncChild is TestStalledFdatasyncClose in the process strace
// traces: it names the thread it writes from, and once strace is attached
// writes from it, which stalls in fdatasync.
func stalledFdatasyncChild(t *testing.T, path string) {
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.closeWait = 200 * time.Millisecond
	tids := make(chan int)
	go func() {
		// Without a context that can end, the write runs on this
		// goroutine, and so on this thread alone. It never returns.
		runtime.LockOSThread()
		tids <- syscall.Gettid()
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			panic(err)
		}
		_ = s.PutLock(context.Background(), deploy.Lock{App: "web", Env: "prod", Owner: "ana"})
	}()
	tid := <-tids
	fmt.Printf("tid %d\n", tid)
	in := fmt.Sprintf("/proc/self/task/%d/syscall", tid)
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		if nr, _, _ := strings.Cut(string(b), " "); nr == strconv.Itoa(syscall.SYS_FDATASYNC) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the write is not in fdatasync 10s after strace attached: %s says %q", in, b)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// within runs op, and returns its error, or fails t if it still
	// waits, on the stalled disk, 10s later.
	within := func(what string, op func() error) error {
		done := make(chan error, 1)
		go func() { done <- op() }()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still waits on the stalled disk 10s later", what)
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err = within("PutLock", func() error { return s.PutLock(ctx, deploy.Lock{App: "billing", Env: "prod", Owner: "ana"}) })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, deploy.ErrStoreNotRun) {
		t.Errorf("PutLock while the disk stalls: got %v, want an error wrapping context.DeadlineExceeded and deploy.ErrStoreNotRun", err)
	}
	err = within("Close", s.Close)
	if err == nil || !strings.Contains(err.Error(), "a write has waited on its disk") {
		t.Errorf("Close while a write stalls: got %v, want an error saying a write waits on the disk", err)
	}
	err = within("PutLock after Close", func() error {
		return s.PutLock(context.Background(), deploy.Lock{App: "billing", Env: "prod", Owner: "ana"})
	})
	if !errors.Is(err, deploy.ErrStoreClosed) {
		t.Errorf("PutLock after Close: got %v, want an error wrapping deploy.ErrStoreClosed", err)
	}
}

// TestStalledWriteGivenUpIsNotMade: a write that waits its turn behind one
// on a stalled disk (here a transaction that stays open holds bbolt's one
// writer), given up as its context ends, is told that nothing changed,
// and is not made once the disk answers. It was made then, after its
// caller was told it failed and may have acted on that: a lock set late,
// a deploy record brought back to an older state.
func TestStalledWriteGivenUpIsNotMade(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(ctx context.Context, s *Store) error
		// stored counts what the write left in the store.
		stored func(s *Store) (int, error)
	}{
		{"PutLock", func(ctx context.Context, s *Store) error {
			return s.PutLock(ctx, deploy.Lock{App: "web", Env: "prod", Owner: "ana"})
		}, func(s *Store) (int, error) {
			ls, err := s.Locks(t.Context())
			return len(ls), err
		}},
		{"PutRecord", func(ctx context.Context, s *Store) error {
			return s.PutRecord(ctx, &deploy.Record{ID: "d1", App: "web", Env: "prod", Outcome: deploy.OutcomeRunning})
		}, func(s *Store) (int, error) {
			rs, err := s.Records(t.Context(), deploy.Filter{})
			return len(rs), err
		}},
		{"AppendAudit", func(ctx context.Context, s *Store) error {
			return s.AppendAudit(ctx, &audit.Entry{User: "ana", Command: "lock web prod", Decision: audit.Allowed})
		}, func(s *Store) (int, error) {
			es, err := s.Audit(t.Context(), audit.Query{})
			return len(es), err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, stalled := openStalled(t)
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			err := tc.write(ctx, s)
			if rerr := stalled.Rollback(); rerr != nil {
				t.Fatalf("Rollback: %v", rerr)
			}
			if !errors.Is(err, deploy.ErrStoreNotRun) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("with the disk stalled: got %v, want an error wrapping deploy.ErrStoreNotRun and context.DeadlineExceeded", err)
			}
			said := errs.Message(deploy.OutcomeUnknown(err, "whether it was written", "look"))
			if !strings.HasSuffix(said, "nothing was changed") {
				t.Errorf("told: got %q, want it to end with nothing was changed", said)
			}
			waitAbandonedTx(t)
			if n, err := tc.stored(s); n != 0 || err != nil {
				t.Errorf("stored once the disk answers: got %d, %v, want 0, nil (nothing of the write given up)", n, err)
			}
		})
	}
}
