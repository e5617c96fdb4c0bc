package embedded_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Store {
		return openStore(t, filepath.Join(t.TempDir(), "switchman.db"), now)
	})
}

// openStore opens the store at path and closes it when the test ends.
func openStore(t *testing.T, path string, now func() time.Time) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(path, embedded.Options{Now: now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// reopen closes s and opens the file at path again.
func reopen(t *testing.T, s *embedded.Store, path string) *embedded.Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openStore(t, path, nil)
}

func TestSurvivesReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "switchman.db")
	s := openStore(t, path, nil)

	started := time.Now().Add(-time.Minute).UTC().Round(0)
	rec := &deploy.Record{
		ID: "d1", Kind: deploy.KindDeploy, App: "accounting", Env: "production", Build: "b1",
		Requester: "ana", Started: started, Outcome: deploy.OutcomeRunning,
		Hosts: []deploy.HostResult{{Host: "web-1", State: deploy.HostDelivering}},
	}
	if err := s.PutRecord(ctx, rec); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	lock := deploy.Lock{App: "accounting", Owner: "ana", Reason: "audit", Created: started}
	if err := s.PutLock(ctx, lock); err != nil {
		t.Fatalf("PutLock: %v", err)
	}
	first := &audit.Entry{User: "ana", Command: "/deploy accounting", Decision: audit.Allowed}
	if err := s.AppendAudit(ctx, first); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if ok, err := s.SetOnce(ctx, "slack:Ev01", time.Hour); !ok || err != nil {
		t.Fatalf("SetOnce: got %v, %v, want true, nil", ok, err)
	}

	s = reopen(t, s, path)

	got, err := s.Record(ctx, "d1")
	if err != nil {
		t.Fatalf("Record after reopen: %v", err)
	}
	if got.Build != "b1" || !got.Started.Equal(started) || len(got.Hosts) != 1 || got.Hosts[0].State != deploy.HostDelivering {
		t.Errorf("Record after reopen: got %+v, want %+v", got, rec)
	}
	recs, err := s.Records(ctx, deploy.Filter{App: "accounting", Limit: 5})
	if err != nil || len(recs) != 1 {
		t.Errorf("Records after reopen: got %d records, %v; want 1, nil", len(recs), err)
	}
	locks, err := s.Locks(ctx)
	if err != nil || len(locks) != 1 || locks[0].Reason != "audit" {
		t.Errorf("Locks after reopen: got %+v, %v; want the lock on accounting", locks, err)
	}
	if ok, err := s.SetOnce(ctx, "slack:Ev01", time.Hour); ok || err != nil {
		t.Errorf("SetOnce after reopen: got %v, %v, want false, nil", ok, err)
	}
	second := &audit.Entry{User: "bo", Command: "/status", Decision: audit.Allowed}
	if err := s.AppendAudit(ctx, second); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if second.Seq <= first.Seq {
		t.Errorf("Seq after reopen: got %d, want more than %d", second.Seq, first.Seq)
	}
	entries, err := s.Audit(ctx, audit.Query{})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if len(entries) != 2 || entries[0].Seq != second.Seq || entries[1].Seq != first.Seq {
		t.Errorf("Audit after reopen: got %+v, want the entries %d and %d", entries, second.Seq, first.Seq)
	}
}

func TestFencingTokensAcrossReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "switchman.db")
	s := openStore(t, path, nil)
	var last int64
	for i := range 3 {
		// The lease is not released: a restart frees it all the same, as
		// only this process could have held it.
		l, err := s.Acquire(ctx, "accounting/production", "bot-1", time.Minute)
		if err != nil {
			t.Fatalf("Acquire after %d reopens: %v", i, err)
		}
		if l.Token() <= last {
			t.Errorf("token after %d reopens: got %d, want more than %d", i, l.Token(), last)
		}
		last = l.Token()
		s = reopen(t, s, path)
		if err := l.Check(ctx); !errors.Is(err, deploy.ErrLeaseLost) {
			t.Errorf("Check of a lease of a closed store: got %v, want an error wrapping deploy.ErrLeaseLost", err)
		}
	}
}

func TestOpenInUse(t *testing.T) {
	assertInUse := func(t *testing.T, path, want string) {
		t.Helper()
		// The lock is never released during the call: only the wait's
		// bound can end it, with the error checked below.
		s, err := embedded.Open(path, embedded.Options{})
		if err == nil {
			s.Close()
			t.Fatal("second Open: got nil error, want the store to be in use")
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Open: got %q, want it to say %q", err, want)
		}
		if code := errs.CodeOf(err); code != errs.Unavailable {
			t.Errorf("second Open: got code %s, want %s", code, errs.Unavailable)
		}
	}

	t.Run("same process", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "switchman.db")
		s, err := embedded.Open(path, embedded.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		assertInUse(t, path, fmt.Sprintf("state store %s is in use by this process (pid %d), which has it open already", path, os.Getpid()))
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		openStore(t, path, nil)
	})

	t.Run("other process", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "switchman.db")
		stop, pid := holdInOtherProcess(t, path)
		assertInUse(t, path, fmt.Sprintf("state store %s is in use by another Switchman bot (pid %d)", path, pid))
		stop()
		openStore(t, path, nil)
	})
}

// holdInOtherProcess runs this test binary as a process that opens the store
// at path and holds it until the returned function is called, and its pid.
func holdInOtherProcess(t *testing.T, path string) (stop func(), pid int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldStore$")
	cmd.Env = append(os.Environ(), "SWITCHMAN_HOLD_STORE="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start holder process: %v", err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("holder said %q", line)
		}
		ready <- err
		io.Copy(io.Discard, stdout)
	}()
	select {
	case err := <-ready:
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("holder process: %v", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("holder process: not ready after 10s")
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("holder process: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop, cmd.Process.Pid
}

// TestHelperHoldStore is the holder process of holdInOtherProcess; run
// alone, it does nothing.
func TestHelperHoldStore(t *testing.T) {
	path := os.Getenv("SWITCHMAN_HOLD_STORE")
	if path == "" {
		t.Skip("helper process for TestOpenInUse")
	}
	s, err := embedded.Open(path, embedded.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // until the parent closes stdin
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "state")
	path := filepath.Join(dir, "switchman.db")
	openStore(t, path, nil)
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{path, 0o600},
		{dir, 0o700 | os.ModeDir},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != tc.want {
			t.Errorf("mode of %s: got %v, want %v", filepath.Base(tc.path), got, tc.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Run("parent is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := embedded.Open(filepath.Join(file, "switchman.db"), embedded.Options{}); err == nil {
			s.Close()
			t.Fatal("Open under a regular file: got nil error")
		}
	})

	t.Run("other schema", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "switchman.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("meta"))
			if err != nil {
				return err
			}
			return b.Put([]byte("schema"), []byte("99"))
		})
		if err := errors.Join(err, db.Close()); err != nil {
			t.Fatal(err)
		}
		s, err := embedded.Open(path, embedded.Options{})
		if err == nil {
			s.Close()
			t.Fatal("Open of a file with schema 99: got nil error")
		}
		if !strings.Contains(err.Error(), `schema version "99"`) {
			t.Errorf("Open of a file with schema 99: got %q, want it to name the version", err)
		}
		// The file is not left locked.
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatalf("bolt.Open after the refused Open: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkAppendAudit(b *testing.B) {
	s := benchStore(b)
	e := audit.Entry{User: "ana", Platform: "slack", Channel: "C123", Command: "/deploy accounting production 2025.03.14-1",
		Action: "deploy", App: "accounting", Env: "production", Decision: audit.Allowed}
	for b.Loop() {
		c := e
		if err := s.AppendAudit(b.Context(), &c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutRecord(b *testing.B) {
	s := benchStore(b)
	r := benchRecord(0)
	for i := 0; b.Loop(); i++ {
		r.ID = fmt.Sprintf("d%08d", i)
		r.Started = r.Started.Add(time.Second)
		if err := s.PutRecord(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecords lists the newest 20 of 10,000 records, with and without
// a filter that one record in ten matches.
func BenchmarkRecords(b *testing.B) {
	s := benchStore(b)
	for i := range 10000 {
		if err := s.PutRecord(b.Context(), benchRecord(i)); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		f    deploy.Filter
	}{
		{"limit", deploy.Filter{Limit: 20}},
		{"app limit", deploy.Filter{App: "app-3", Limit: 20}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				recs, err := s.Records(b.Context(), bc.f)
				if err != nil || len(recs) != 20 {
					b.Fatalf("Records: got %d, %v", len(recs), err)
				}
			}
		})
	}
}

func benchStore(b *testing.B) *embedded.Store {
	b.Helper()
	s, err := embedded.Open(filepath.Join(b.TempDir(), "switchman.db"), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}

func benchRecord(i int) *deploy.Record {
	started := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	return &deploy.Record{
		ID: fmt.Sprintf("d%08d", i), Kind: deploy.KindDeploy, App: fmt.Sprintf("app-%d", i%10), Env: "production",
		Build: "2025.03.14-1", Previous: "2025.03.13-2", Requester: "ana", Platform: "slack", Channel: "C123",
		Started: started, Finished: started.Add(90 * time.Second), Outcome: deploy.OutcomeSucceeded,
		Hosts: []deploy.HostResult{
			{Host: "web-1", State: deploy.HostActive, Current: "2025.03.14-1", Previous: "2025.03.13-2"},
			{Host: "web-2", State: deploy.HostActive, Current: "2025.03.14-1", Previous: "2025.03.13-2"},
			{Host: "web-3", State: deploy.HostActive, Current: "2025.03.14-1", Previous: "2025.03.13-2"},
		},
	}
}

func TestOpenReadOnly(t *testing.T) {
	ctx := t.Context()
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "var", "switchman.db")
		s, err := embedded.Open(path, embedded.Options{ReadOnly: true})
		if err == nil {
			s.Close()
		}
		if want := fmt.Sprintf("state store %s does not exist", path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open: got %v, want an error saying %q", err, want)
		}
		if code := errs.CodeOf(err); code != errs.NotFound {
			t.Errorf("Open: got code %s, want %s", code, errs.NotFound)
		}
		if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("directory after Open: got %v, want none created", err)
		}
	})

	t.Run("existing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "switchman.db")
		s := openStore(t, path, nil)
		if err := s.AppendAudit(ctx, &audit.Entry{User: "ana", Command: "/status", Decision: audit.Allowed}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// Readers share the file.
		var readers []*embedded.Store
		for range 2 {
			r, err := embedded.Open(path, embedded.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("Open read-only: %v", err)
			}
			t.Cleanup(func() { r.Close() })
			readers = append(readers, r)
		}
		entries, err := readers[1].Audit(ctx, audit.Query{})
		if err != nil || len(entries) != 1 {
			t.Errorf("Audit: got %d entries, %v; want 1, nil", len(entries), err)
		}
		if err := readers[0].AppendAudit(ctx, &audit.Entry{User: "bo", Command: "/status"}); err == nil {
			t.Error("AppendAudit on a read-only store: got nil error")
		}
	})

	t.Run("in use", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "switchman.db")
		openStore(t, path, nil)
		s, err := embedded.Open(path, embedded.Options{ReadOnly: true})
		if err == nil {
			s.Close()
		}
		if want := fmt.Sprintf("state store %s is in use by this process (pid %d), which has it open already", path, os.Getpid()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open read-only: got %v, want an error saying %q", err, want)
		}
	})
}

// pageOf returns the offset in the closed store at path of the page that
// pick chooses, given a transaction.
func pageOf(t *testing.T, path string, pick func(tx *bolt.Tx) (int, error)) int64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var off int64
	err = db.View(func(tx *bolt.Tx) error {
		id, err := pick(tx)
		off = int64(id) * int64(tx.DB().Info().PageSize)
		return err
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	return off
}

// damagePage overwrites the header of the page at off in the file at path
// with zeros, as a torn copy or a disk error would leave it.
func damagePage(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(make([]byte, 16), off)
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
}

// freelistPage is the page of the free page list.
func freelistPage(tx *bolt.Tx) (int, error) {
	for id := 2; id < int(tx.Size())/tx.DB().Info().PageSize; id++ {
		p, err := tx.Page(id)
		if err != nil {
			return 0, err
		}
		if p != nil && p.Type == "freelist" {
			return id, nil
		}
	}
	return 0, errors.New("no freelist page")
}

// auditPage is the root page of the audit trail.
func auditPage(tx *bolt.Tx) (int, error) {
	b := tx.Bucket([]byte("audit"))
	if b == nil || b.Root() == 0 {
		return 0, errors.New("the audit trail has no page of its own")
	}
	return int(b.Root()), nil
}

func TestDamagedFile(t *testing.T) {
	ctx := t.Context()
	// fill writes a store at path whose audit trail has pages of its own.
	fill := func(t *testing.T, path string) {
		t.Helper()
		s, err := embedded.Open(path, embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			e := &audit.Entry{User: "ana", Command: fmt.Sprintf("/deploy accounting production %d", i), Decision: audit.Allowed}
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	assertDamaged := func(t *testing.T, what string, err error, path string) {
		t.Helper()
		for _, want := range []string{
			fmt.Sprintf("state store %s is damaged", path),
			fmt.Sprintf(": stop the bot, then restore it from a backup, or move it aside (mv %s %s.damaged) to start a new, empty store, without its locks, grants and deploy history", path, path),
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: got %v, want an error saying %q", what, err, want)
			}
		}
	}

	// A damaged file stops the bot at start, whatever page is damaged:
	// not a deploy midway, when it first reads that page.
	for _, tc := range []struct {
		name string
		pick func(tx *bolt.Tx) (int, error)
	}{
		{"free page list", freelistPage},
		{"audit trail", auditPage},
	} {
		t.Run("at open/"+tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchman.db")
			fill(t, path)
			damagePage(t, path, pageOf(t, path, tc.pick))
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("Open: panicked: %v", r)
				}
			}()
			// Read-only first: a refused Open to write leaves the file
			// locked in this process (see openBolt).
			for _, ro := range []bool{true, false} {
				s, err := embedded.Open(path, embedded.Options{ReadOnly: ro})
				if err == nil {
					s.Close()
				}
				assertDamaged(t, fmt.Sprintf("Open (read-only %v)", ro), err, path)
			}
		})
	}

	// A copy taken while the bot was writing may end before the pages its
	// meta page counts: reading them through bbolt's mapping of the file
	// would kill the process with SIGBUS, not return an error.
	used := func(tx *bolt.Tx) (int, error) { return int(tx.Size()) / tx.DB().Info().PageSize, nil }
	for _, tc := range []struct {
		name string
		keep func(used, page int64) int64 // the bytes left of the file
	}{
		{"the meta pages only", func(used, page int64) int64 { return 2 * page }},
		{"half its pages", func(used, page int64) int64 { return used / 2 }},
		{"its last page cut", func(used, page int64) int64 { return used - page/2 }},
	} {
		t.Run("cut short/"+tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchman.db")
			fill(t, path)
			if err := os.Truncate(path, tc.keep(pageOf(t, path, used), int64(os.Getpagesize()))); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{true, false} {
				s, err := embedded.Open(path, embedded.Options{ReadOnly: ro})
				if err == nil {
					s.Close()
				}
				assertDamaged(t, fmt.Sprintf("Open (read-only %v)", ro), err, path)
			}
		})
	}
	t.Run("cut after its pages", func(t *testing.T) {
		// Space bbolt allocated beyond the pages in use holds nothing.
		path := filepath.Join(t.TempDir(), "switchman.db")
		fill(t, path)
		if err := os.Truncate(path, pageOf(t, path, used)); err != nil {
			t.Fatal(err)
		}
		s, err := embedded.Open(path, embedded.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("Open: got %v, want the store", err)
		}
		entries, err := s.Audit(ctx, audit.Query{Limit: 1000})
		if err := errors.Join(err, s.Close()); err != nil || len(entries) != 200 {
			t.Errorf("Audit: got %d entries, %v; want 200", len(entries), err)
		}
	})

	t.Run("once open", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "switchman.db")
		fill(t, path)
		off := pageOf(t, path, auditPage)
		s := openStore(t, path, nil)
		damagePage(t, path, off) // a disk error while the bot runs
		ops := []struct {
			name  string
			op    func() error
			write bool
		}{
			{"Audit", func() error { _, err := s.Audit(ctx, audit.Query{}); return err }, false},
			{"AppendAudit", func() error { return s.AppendAudit(ctx, &audit.Entry{User: "bo", Command: "/status"}) }, true},
			// Once damage is seen, nothing else is trusted either.
			{"PutLock", func() error { return s.PutLock(ctx, deploy.Lock{App: "accounting", Owner: "ana"}) }, true},
			{"Locks", func() error { _, err := s.Locks(ctx); return err }, false},
		}
		for _, op := range ops {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s: panicked: %v", op.name, r)
					}
				}()
				err := op.op()
				assertDamaged(t, op.name, err, path)
				if !op.write {
					return
				}
				// The write was refused before anything was stored: not
				// an outcome left unknown.
				got := deploy.OutcomeUnknown(err, "whether accounting was locked", "status lists the locks in force")
				if errors.Is(got, deploy.ErrOutcomeUnknown) || !strings.HasSuffix(errs.Message(got), "; nothing was changed") {
					t.Errorf("%s, as people are told: got %q, want it refused, nothing changed", op.name, errs.Message(got))
				}
			}()
		}
	})

	t.Run("once open, found by a write", func(t *testing.T) {
		// bbolt undoes a write that panicked by reading its free page
		// list again from the file: damaged too, that read panicked
		// and left bbolt's writer lock held, which Close waited on for
		// ever, and a bot stopping then never stopped.
		path := filepath.Join(t.TempDir(), "switchman.db")
		fill(t, path)
		s, err := embedded.Open(path, embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		// Open writes, which moves the free page list.
		for _, pick := range []func(tx *bolt.Tx) (int, error){auditPage, freelistPage} {
			off, err := embedded.PageOf(s, pick)
			if err != nil {
				t.Fatal(err)
			}
			damagePage(t, path, off)
		}
		err = s.AppendAudit(ctx, &audit.Entry{User: "bo", Command: "/status"})
		assertDamaged(t, "AppendAudit", err, path)
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Close did not return")
		}
	})

	t.Run("once open, found by a commit", func(t *testing.T) {
		// As above, with the damage found as the write is committed:
		// the page merged with the one emptied by the write.
		path := filepath.Join(t.TempDir(), "switchman.db")
		fill(t, path)
		s, err := embedded.Open(path, embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		root, err := embedded.PageOf(s, auditPage)
		if err != nil {
			t.Fatal(err)
		}
		first, second, n := leaves(t, path, root)
		free, err := embedded.PageOf(s, freelistPage)
		if err != nil {
			t.Fatal(err)
		}
		damagePage(t, path, second)
		damagePage(t, path, free)
		err = embedded.Update(s, func(tx *bolt.Tx) error {
			// Keys of the first page alone are read, and all but one
			// removed, which merges it with the second as it commits.
			b := tx.Bucket([]byte("audit"))
			var keys [][]byte
			c := b.Cursor()
			for k, _ := c.First(); len(keys) < n-1; k, _ = c.Next() {
				keys = append(keys, k)
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		assertDamaged(t, fmt.Sprintf("a write emptying the page at %d", first), err, path)
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Close did not return")
		}
	})
}

// leaves returns the offsets of the first two pages the branch page at
// root in the file at path points to, and how many keys the first holds.
func leaves(t *testing.T, path string, root int64) (first, second int64, n int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := int64(os.Getpagesize())
	// A page's header: id (8 bytes), flags (2), count (2), overflow (4);
	// a branch page's elements follow: pos (4), key size (4), page id (8).
	if flags := binary.LittleEndian.Uint16(data[root+8:]); flags != 0x01 {
		t.Fatalf("the audit trail's root page has flags %#x, want a branch page", flags)
	}
	first = int64(binary.LittleEndian.Uint64(data[root+16+8:])) * page
	second = int64(binary.LittleEndian.Uint64(data[root+16+16+8:])) * page
	n = int(binary.LittleEndian.Uint16(data[first+10:]))
	return first, second, n
}

// advice is what every refusal of a file that is not a usable store says
// to do about it.
const advice = "restore it from a backup, or remove it to start a new, empty store"

// foreignAdvice is the end of the refusal of another program's bbolt file.
const foreignAdvice = "it is left as it is: name the bot's own state store file, or a path where there is none yet to start a new, empty store"

// foreignBolt writes at path a bbolt file, as another program would,
// holding the buckets named, each with a key of its own.
func foreignBolt(t *testing.T, path string, buckets ...string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("ana"), []byte("admin")); err != nil {
				return err
			}
		}
		return nil
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
}

// TestOpenEmptyFile: a file cut to nothing (a full disk, a restore cut
// short, `> file`) is refused, to write or to read, and left as it is:
// opened as a new store, it would lift every lock it held.
func TestOpenEmptyFile(t *testing.T) {
	for _, ro := range []bool{false, true} {
		t.Run(fmt.Sprintf("read-only %v", ro), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchman.db")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := embedded.Open(path, embedded.Options{ReadOnly: ro})
			if err == nil {
				s.Close()
			}
			for _, want := range []string{fmt.Sprintf("state store %s is empty", path), advice} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Open: got %v, want an error saying %q", err, want)
				}
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
				t.Errorf("file after Open: got %v, %v; want it left empty", fi, err)
			}
		})
	}
}

// TestOpenCreate: a first start that stops while it creates the store
// leaves no file at its path, so the next start creates it rather than
// refuse an empty file; without hard links, the store is still created.
func TestOpenCreate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		link    func(oldname, newname string) error
		created bool
	}{
		{"interrupted", func(string, string) error { return errors.New("crash") }, false},
		{"no hard links", func(oldname, newname string) error {
			return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: errors.ErrUnsupported}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchman.db")
			restore := embedded.SetLink(tc.link)
			s, err := embedded.Open(path, embedded.Options{})
			restore()
			if err == nil {
				s.Close()
			}
			if got := err == nil; got != tc.created {
				t.Fatalf("Open: got %v, want created %v", err, tc.created)
			}
			if _, err := os.Stat(path); !tc.created && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("store file after the interrupted Open: got %v, want none", err)
			}
			s = openStore(t, path, nil)
			if err := s.AppendAudit(t.Context(), &audit.Entry{User: "ana", Command: "/status", Decision: audit.Allowed}); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(filepath.Dir(path))
			if err != nil || len(entries) != 1 {
				t.Errorf("directory after Open: got %v, %v; want the store file only", entries, err)
			}
		})
	}
}

// TestOpenSweepsTemps: the temporary files a start that stopped while
// creating the store left are removed by the next start to write, and
// logged with their path, once a minute old; a younger one, which another
// process may be creating now, and files that are not this store's
// leftovers are left. A leftover that is a second name of the store (a
// stop after the link) is removed without harm to the store.
func TestOpenSweepsTemps(t *testing.T) {
	old := time.Now().Add(-2 * time.Minute)
	for _, tc := range []struct {
		name    string
		file    string // made old unless young
		young   bool
		dir     bool
		removed bool
	}{
		{name: "leftover", file: ".switchman.db.new-1234567", removed: true},
		{name: "young leftover", file: ".switchman.db.new-7654321", young: true},
		{name: "another store's leftover", file: ".other.db.new-1234567"},
		{name: "not a temporary name", file: ".switchman.db.new-backup"},
		{name: "no suffix", file: ".switchman.db.new-"},
		{name: "a directory", file: ".switchman.db.new-42", dir: true},
	} {
		for _, ro := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/read-only %v", tc.name, ro), func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "switchman.db")
				if err := openStore(t, path, nil).Close(); err != nil {
					t.Fatal(err)
				}
				tmp := filepath.Join(dir, tc.file)
				var err error
				if tc.dir {
					err = os.Mkdir(tmp, 0o700)
				} else {
					err = os.WriteFile(tmp, []byte("half a store"), 0o600)
				}
				if err == nil && !tc.young {
					err = os.Chtimes(tmp, old, old)
				}
				if err != nil {
					t.Fatal(err)
				}
				var logged bytes.Buffer
				s, err := embedded.Open(path, embedded.Options{ReadOnly: ro, Log: slog.New(slog.NewTextHandler(&logged, nil))})
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				s.Close()
				_, statErr := os.Stat(tmp)
				want := tc.removed && !ro
				if got := errors.Is(statErr, fs.ErrNotExist); got != want {
					t.Errorf("%s after Open: got removed %v (%v), want %v", tc.file, got, statErr, want)
				}
				logs := logged.String()
				if want && (!strings.Contains(logs, "removed a temporary file left by an interrupted creation") || !strings.Contains(logs, tmp)) {
					t.Errorf("log: got %q, want the removal of %s", logs, tmp)
				}
				if tc.young && !ro && (!strings.Contains(logs, "left as another process may be creating it") || !strings.Contains(logs, tmp)) {
					t.Errorf("log: got %q, want %s said left", logs, tmp)
				}
			})
		}
	}

	t.Run("second name of the store", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "switchman.db")
		s := openStore(t, path, nil)
		if err := s.AppendAudit(t.Context(), &audit.Entry{User: "ana", Command: "/status", Decision: audit.Allowed}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, ".switchman.db.new-99")
		if err := os.Link(path, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, old, old); err != nil {
			t.Fatal(err)
		}
		s = openStore(t, path, nil)
		if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after Open: got %v, want it removed", tmp, err)
		}
		entries, err := s.Audit(t.Context(), audit.Query{})
		if err != nil || len(entries) != 1 {
			t.Errorf("audit after Open: got %v, %v, want the entry written before", entries, err)
		}
	})
}

// TestOpenNotAStore: a file that holds no store (a wrong path, a restore of
// the wrong file) is refused, to write or to read, and left as it is; a
// bbolt file with nothing in it, all a store's creation by an earlier
// version could leave before its first write, becomes the store. Another
// program's bbolt file is refused whatever its buckets are named, a
// bucket "meta" of its own included, which Open took for the store's and
// wrote the schema version in, and its removal is not advised: it is
// someone else's database.
func TestOpenNotAStore(t *testing.T) {
	bboltFile := func(buckets ...string) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			t.Helper()
			foreignBolt(t, path, buckets...)
		}
	}
	bytesFile := func(data []byte) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			t.Helper()
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		write   func(t *testing.T, path string)
		opens   bool   // to write; never to read, without a schema
		foreign string // what the refusal says the file holds, if it is another program's bbolt file
	}{
		{"a few bytes", bytesFile([]byte("switchman\n")), false, ""},
		{"a page of zeros", bytesFile(make([]byte, 4096)), false, ""},
		{"pages of zeros", bytesFile(make([]byte, 64<<10)), false, ""},
		{"text", bytesFile([]byte(strings.Repeat("apps:\n  web:\n    path: /srv/web\n", 1000))), false, ""},
		{"another program's bbolt file", bboltFile("users"), false, `a bucket "users", and no schema version`},
		{"another program's bbolt file with a bucket meta", bboltFile("meta"), false, `a bucket "meta" without a schema version in it`},
		{"another program's bbolt file with buckets meta and users", bboltFile("meta", "users"), false, `a bucket "meta" without a schema version in it`},
		{"an empty bbolt file", bboltFile(), true, ""},
	} {
		for _, ro := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/read-only %v", tc.name, ro), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "switchman.db")
				tc.write(t, path)
				before, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				s, err := embedded.Open(path, embedded.Options{ReadOnly: ro})
				if err == nil {
					s.Close()
				}
				if tc.opens && !ro {
					if err != nil {
						t.Errorf("Open: got %v, want the store", err)
					}
					return
				}
				wants := []string{fmt.Sprintf("state store %s is not a Switchman state store", path), advice}
				if tc.foreign != "" {
					wants = []string{fmt.Sprintf("state store %s is not a Switchman state store: it is a bbolt database with %s", path, tc.foreign), foreignAdvice}
				}
				for _, want := range wants {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("Open: got %v, want an error saying %q", err, want)
					}
				}
				if tc.foreign != "" && err != nil && strings.Contains(err.Error(), "remove it") {
					t.Errorf("Open: got %v, want no advice to remove another program's database", err)
				}
				if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
					t.Errorf("file after Open: got %d bytes, %v; want it unchanged", len(after), err)
				}
			})
		}
	}
}

// TestOpenFileMode: a store file anyone may write (restored with a loose
// mode) is refused, to write or to read: whoever can write it can lift
// locks and grant themselves anything. One its group may write (a
// Kubernetes fsGroup volume), or others read, is opened to write with a
// warning, and read without one: a reader of the audit trail other than
// the bot needs that.
func TestOpenFileMode(t *testing.T) {
	for _, tc := range []struct {
		mode    os.FileMode
		refused bool
		warned  bool // readable by others
		group   bool // writable by the group
	}{
		{0o600, false, false, false},
		{0o640, false, true, false},
		{0o644, false, true, false},
		{0o604, false, true, false},
		{0o620, false, false, true},
		{0o660, false, true, true},
		{0o602, true, false, false},
		{0o666, true, false, false},
	} {
		for _, ro := range []bool{true, false} {
			t.Run(fmt.Sprintf("%04o/read-only %v", tc.mode, ro), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "switchman.db")
				if err := openStore(t, path, nil).Close(); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.mode); err != nil {
					t.Fatal(err)
				}
				var logged bytes.Buffer
				s, err := embedded.Open(path, embedded.Options{ReadOnly: ro, Log: slog.New(slog.NewTextHandler(&logged, nil))})
				if err == nil {
					s.Close()
				}
				if tc.refused {
					for _, want := range []string{fmt.Sprintf("state store %s is writable by anyone (mode %04o)", path, tc.mode), "chmod 600 " + path} {
						if err == nil || !strings.Contains(err.Error(), want) {
							t.Errorf("Open: got %v, want an error saying %q", err, want)
						}
					}
				} else if err != nil {
					t.Errorf("Open: got %v, want the store", err)
				}
				const warn = `level=WARN msg="state store readable by group or others`
				if got, want := strings.Contains(logged.String(), warn), tc.warned && !ro && !tc.refused; got != want {
					t.Errorf("log %q: got the warning %v, want %v", logged.String(), got, want)
				}
				const groupWarn = `level=WARN msg="state store writable by its group`
				if got, want := strings.Contains(logged.String(), groupWarn), tc.group && !ro; got != want {
					t.Errorf("log %q: got the group warning %v, want %v", logged.String(), got, want)
				}
				if fi, err := os.Stat(path); err != nil || fi.Mode() != tc.mode {
					t.Errorf("file after Open: got %v, %v; want its mode left %v", fi.Mode(), err, tc.mode)
				}
			})
		}
	}
}

// TestOpenDirMode: a store in a directory anyone may write without the
// sticky bit is refused, to write or to read, and a new one is not created
// there: whoever can write the directory can put their own file in the
// store's place. A directory its group may write (a Kubernetes fsGroup
// volume) is used, with a warning when opened to write; one with the
// sticky bit is used without.
func TestOpenDirMode(t *testing.T) {
	for _, tc := range []struct {
		mode    os.FileMode
		refused bool
		group   bool // warned of as writable by the group
	}{
		{0o700, false, false},
		{0o755, false, false},
		{0o770, false, true},
		{0o775 | os.ModeSetgid, false, true},
		{0o770 | os.ModeSticky, false, false},
		{0o777 | os.ModeSticky, false, false},
		{0o703, true, false},
		{0o777, true, false},
		{0o777 | os.ModeSetgid, true, false},
	} {
		for _, existing := range []bool{true, false} {
			for _, ro := range []bool{true, false} {
				if !existing && ro {
					continue // a missing file is refused to read anyway
				}
				t.Run(fmt.Sprintf("%v/existing %v/read-only %v", tc.mode, existing, ro), func(t *testing.T) {
					dir := filepath.Join(t.TempDir(), "state")
					if err := os.Mkdir(dir, 0o700); err != nil {
						t.Fatal(err)
					}
					path := filepath.Join(dir, "switchman.db")
					if existing {
						if err := openStore(t, path, nil).Close(); err != nil {
							t.Fatal(err)
						}
					}
					if err := os.Chmod(dir, tc.mode); err != nil {
						t.Fatal(err)
					}
					var logged bytes.Buffer
					s, err := embedded.Open(path, embedded.Options{ReadOnly: ro, Log: slog.New(slog.NewTextHandler(&logged, nil))})
					if err == nil {
						s.Close()
					}
					const groupWarn = `level=WARN msg="state store directory writable by its group`
					if got, want := strings.Contains(logged.String(), groupWarn) && strings.Contains(logged.String(), "dir="+dir), tc.group && !ro; got != want {
						t.Errorf("log %q: got the group warning naming %s %v, want %v", logged.String(), dir, got, want)
					}
					if !tc.refused {
						if err != nil {
							t.Errorf("Open: got %v, want the store", err)
						}
						return
					}
					for _, want := range []string{fmt.Sprintf("state store directory %s is writable by anyone (mode %04o, no sticky bit)", dir, tc.mode.Perm()), "chmod o-w " + dir} {
						if err == nil || !strings.Contains(err.Error(), want) {
							t.Errorf("Open: got %v, want an error saying %q", err, want)
						}
					}
					if entries, err := os.ReadDir(dir); err != nil || len(entries) != btoi(existing) {
						t.Errorf("directory after Open: got %v, %v, want %d files (nothing created)", entries, err, btoi(existing))
					}
				})
			}
		}
	}
}

// TestOpenSymlinkDir: when the store's path is a symlink, the directory
// the file really lives in is judged as the path's own is, and so is the
// directory of each link on the way: whoever can write one can put another
// file in the store's place. Check refuses what Open refuses.
func TestOpenSymlinkDir(t *testing.T) {
	link := func(t *testing.T, target, name string) {
		t.Helper()
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	// oneLink links link/switchman.db to real/switchman.db.
	oneLink := func(relative bool) func(t *testing.T, base string) string {
		return func(t *testing.T, base string) string {
			target := base + "/real/switchman.db"
			if relative {
				target = "../real/switchman.db"
			}
			link(t, target, base+"/link/switchman.db")
			return base + "/link/switchman.db"
		}
	}
	for _, tc := range []struct {
		name string
		// setup makes the links under base, to real/switchman.db, and
		// returns the store's path; every directory is 0700.
		setup   func(t *testing.T, base string) string
		modes   map[string]os.FileMode // by directory under base
		refused string                 // the directory named refused
		group   string                 // the directory warned of
	}{
		{
			name:    "into a directory writable by anyone",
			setup:   oneLink(false),
			modes:   map[string]os.FileMode{"real": 0o777},
			refused: "real",
		},
		{
			name:  "into a directory with the sticky bit",
			setup: oneLink(false),
			modes: map[string]os.FileMode{"real": 0o777 | os.ModeSticky},
		},
		{
			name:  "into a directory writable by its group",
			setup: oneLink(false),
			modes: map[string]os.FileMode{"real": 0o775 | os.ModeSetgid},
			group: "real",
		},
		{
			name:    "in a directory writable by anyone, into a private one",
			setup:   oneLink(false),
			modes:   map[string]os.FileMode{"link": 0o777},
			refused: "link",
		},
		{
			name:    "relative, into a directory writable by anyone",
			setup:   oneLink(true),
			modes:   map[string]os.FileMode{"real": 0o777},
			refused: "real",
		},
		{
			// The kernel resolves ".." from the directory alias leads
			// to (link), not from the one that holds alias (a/b).
			name: "relative, reached through a symlinked directory",
			setup: func(t *testing.T, base string) string {
				if err := os.MkdirAll(base+"/a/b", 0o700); err != nil {
					t.Fatal(err)
				}
				link(t, base+"/link", base+"/a/b/alias")
				link(t, "../real/switchman.db", base+"/link/switchman.db")
				return base + "/a/b/alias/switchman.db"
			},
			modes:   map[string]os.FileMode{"real": 0o777},
			refused: "real",
		},
		{
			name: "through a link in a directory writable by anyone",
			setup: func(t *testing.T, base string) string {
				link(t, base+"/mid/switchman.db", base+"/link/switchman.db")
				link(t, base+"/real/switchman.db", base+"/mid/switchman.db")
				return base + "/link/switchman.db"
			},
			modes:   map[string]os.FileMode{"mid": 0o777},
			refused: "mid",
		},
		{
			name: "through links in private directories",
			setup: func(t *testing.T, base string) string {
				link(t, base+"/mid/switchman.db", base+"/link/switchman.db")
				link(t, base+"/real/switchman.db", base+"/mid/switchman.db")
				return base + "/link/switchman.db"
			},
		},
	} {
		for _, existing := range []bool{true, false} {
			for _, ro := range []bool{true, false} {
				if !existing && ro {
					continue // a missing file is refused to read anyway
				}
				t.Run(fmt.Sprintf("%s/existing %v/read-only %v", tc.name, existing, ro), func(t *testing.T) {
					base := t.TempDir()
					for _, d := range []string{"link", "mid", "real"} {
						if err := os.Mkdir(filepath.Join(base, d), 0o700); err != nil {
							t.Fatal(err)
						}
					}
					real := filepath.Join(base, "real", "switchman.db")
					if existing {
						if err := openStore(t, real, nil).Close(); err != nil {
							t.Fatal(err)
						}
					}
					path := tc.setup(t, base)
					for d, mode := range tc.modes {
						if err := os.Chmod(filepath.Join(base, d), mode); err != nil {
							t.Fatal(err)
						}
					}
					checked := embedded.Check(path, nil)
					var logged bytes.Buffer
					s, err := embedded.Open(path, embedded.Options{ReadOnly: ro, Log: slog.New(slog.NewTextHandler(&logged, nil))})
					if err == nil {
						s.Close()
					}
					if fmt.Sprint(checked) != fmt.Sprint(err) {
						t.Errorf("Check: got %v, want what Open says: %v", checked, err)
					}
					const groupWarn = `level=WARN msg="state store directory writable by its group`
					warned := strings.Contains(logged.String(), groupWarn)
					switch {
					case tc.group == "" || ro:
						if warned {
							t.Errorf("log %q: got the group warning, want none", logged.String())
						}
					case !warned || !strings.Contains(logged.String(), "dir="+filepath.Join(base, tc.group)):
						t.Errorf("log %q: got no group warning naming %s, want one", logged.String(), filepath.Join(base, tc.group))
					}
					if tc.refused == "" {
						if err != nil {
							t.Errorf("Open: got %v, want the store", err)
						}
						// Made through a dangling link, the store is
						// where the link leads, the link left as it was.
						if info, err := os.Lstat(real); err != nil || !info.Mode().IsRegular() {
							t.Errorf("store file %s after Open: %v, %v; want a regular file", real, info, err)
						}
						if info, err := os.Lstat(path); err != nil || info.Mode()&os.ModeSymlink == 0 {
							t.Errorf("store path %s after Open: %v, %v; want the symlink still", path, info, err)
						}
						return
					}
					dir := filepath.Join(base, tc.refused)
					mode := tc.modes[tc.refused].Perm()
					for _, want := range []string{fmt.Sprintf("state store directory %s", dir), fmt.Sprintf("is writable by anyone (mode %04o, no sticky bit)", mode), "chmod o-w " + dir} {
						if err == nil || !strings.Contains(err.Error(), want) {
							t.Errorf("Open: got %v, want an error saying %q", err, want)
						}
					}
					if _, err := os.Lstat(real); existing != (err == nil) {
						t.Errorf("store file after Open: got %v, want it there only if it was before (nothing created)", err)
					}
				})
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCheck: Check gives the error Open gives for a file refused from its
// size or mode or its directory's mode, or from the buckets it holds
// (another program's bbolt file, which Check let through), and nothing
// for a missing file or a usable one, without creating or changing the
// file; it logs the warnings Open logs.
func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode // of a store made at path
		empty   bool        // an empty file instead
		missing bool
		dirMode os.FileMode // of the directory, if not 0
		refused bool
		warns   string                          // the warning logged, if any
		make    func(t *testing.T, path string) // the file instead, made 0600
	}{
		{name: "missing", missing: true},
		{name: "store", mode: 0o600},
		{name: "store readable by others", mode: 0o644, warns: "state store readable by group or others"},
		{name: "store writable by its group", mode: 0o660, warns: "state store writable by its group"},
		{name: "directory writable by its group", mode: 0o600, dirMode: 0o770, warns: "state store directory writable by its group"},
		{name: "missing in a directory writable by its group", missing: true, dirMode: 0o770, warns: "state store directory writable by its group"},
		{name: "empty", mode: 0o600, empty: true, refused: true},
		{name: "writable by anyone", mode: 0o602, refused: true},
		{name: "writable by all", mode: 0o666, refused: true},
		{name: "directory writable by anyone", mode: 0o600, dirMode: 0o777, refused: true},
		{name: "missing in a directory writable by anyone", missing: true, dirMode: 0o777, refused: true},
		{name: "directory with the sticky bit", mode: 0o600, dirMode: 0o777 | os.ModeSticky},
		{name: "another program's bbolt file", mode: 0o600, refused: true, make: func(t *testing.T, path string) {
			foreignBolt(t, path, "users")
		}},
		{name: "another program's bbolt file with a bucket meta", mode: 0o600, refused: true, make: func(t *testing.T, path string) {
			foreignBolt(t, path, "meta")
		}},
		{name: "another program's bbolt file with many buckets", mode: 0o600, refused: true, make: func(t *testing.T, path string) {
			// More than a page of them: the root is a branch page.
			var names []string
			for i := range 500 {
				names = append(names, fmt.Sprintf("tenant-%04d", 499-i))
			}
			foreignBolt(t, path, names...)
		}},
		{name: "another program's bbolt file with a large bucket meta", mode: 0o600, refused: true, make: func(t *testing.T, path string) {
			// Pages of its own, not inline in the root.
			foreignBolt(t, path, "meta")
			boltUpdate(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("meta"))
				for i := range 2000 {
					if err := b.Put(fmt.Appendf(nil, "key-%05d", i), bytes.Repeat([]byte("v"), 100)); err != nil {
						return err
					}
				}
				return nil
			})
		}},
		{name: "an empty bbolt file", mode: 0o600, make: func(t *testing.T, path string) { foreignBolt(t, path) }},
		{name: "store of another schema version", mode: 0o600, refused: true, make: func(t *testing.T, path string) {
			if err := openStore(t, path, nil).Close(); err != nil {
				t.Fatal(err)
			}
			boltUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("99")) })
		}},
		{name: "store with a large history", mode: 0o600, make: func(t *testing.T, path string) {
			s := openStore(t, path, nil)
			for i := range 2000 {
				if err := s.AppendAudit(t.Context(), &audit.Entry{User: "ana", Command: fmt.Sprintf("/status %d", i), Decision: audit.Allowed}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchman.db")
			switch {
			case tt.missing:
			case tt.make != nil:
				tt.make(t, path)
			case tt.empty:
				if err := os.WriteFile(path, nil, tt.mode); err != nil {
					t.Fatal(err)
				}
			default:
				if err := openStore(t, path, nil).Close(); err != nil {
					t.Fatal(err)
				}
			}
			if !tt.missing {
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			if tt.dirMode != 0 {
				if err := os.Chmod(filepath.Dir(path), tt.dirMode); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.Stat(path)
			var logged bytes.Buffer
			err := embedded.Check(path, slog.New(slog.NewTextHandler(&logged, nil)))
			if tt.warns == "" && logged.Len() > 0 || tt.warns != "" && !strings.Contains(logged.String(), `level=WARN msg="`+tt.warns) {
				t.Errorf("Check logged %q, want the warning %q", logged.String(), tt.warns)
			}
			if tt.refused {
				s, want := embedded.Open(path, embedded.Options{})
				if want == nil {
					s.Close()
				}
				if err == nil || want == nil || err.Error() != want.Error() {
					t.Errorf("Check: got %v, want %v (what Open says)", err, want)
				}
			} else if err != nil {
				t.Errorf("Check: got %v, want nil", err)
			}
			after, statErr := os.Stat(path)
			switch {
			case tt.missing && statErr == nil:
				t.Errorf("Check created %s", path)
			case !tt.missing && (statErr != nil || after.Size() != before.Size() || after.Mode() != before.Mode() || !after.ModTime().Equal(before.ModTime())):
				t.Errorf("file after Check: got %v, %v, want it unchanged (%v)", after, statErr, before)
			}
		})
	}
}

// boltUpdate runs fn in a write transaction of the bbolt file at path.
func boltUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(db.Update(fn), db.Close()); err != nil {
		t.Fatal(err)
	}
}

// TestStorePathIsADirectory: store.path naming a directory (the state
// directory, not the file in it) is refused by Check and Open alike as a
// directory, with the file to name instead; not as a damaged store to
// remove, which would send the operator to delete the directory.
func TestStorePathIsADirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	want := "state store " + dir + " is a directory: name the database file in it, such as " + filepath.Join(dir, "switchman.db")
	checkErr := embedded.Check(dir, nil)
	s, openErr := embedded.Open(dir, embedded.Options{})
	if openErr == nil {
		s.Close()
	}
	for _, tc := range []struct {
		name string
		err  error
	}{{"Check", checkErr}, {"Open", openErr}} {
		if tc.err == nil || tc.err.Error() != want {
			t.Errorf("%s: got %v, want %q", tc.name, tc.err, want)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("directory after Check and Open: got %v, %v, want it empty", entries, err)
	}
}

// TestCheckWhileWritten: Check passes the store of a running bot while it
// writes, though the pages Check reads may be written over as it reads
// them: it reads them again then, rather than take what it read for
// another program's file.
func TestCheckWhileWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchman.db")
	s := openStore(t, path, nil)
	stop := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				wrote <- nil
				return
			default:
			}
			// Buckets grow, split and move their pages, the root's
			// included.
			err := embedded.Update(s, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists(fmt.Appendf(nil, "scratch-%03d", i%300))
				if err != nil {
					return err
				}
				return b.Put(fmt.Appendf(nil, "k%d", i), bytes.Repeat([]byte("v"), i%3000))
			})
			if err != nil {
				wrote <- err
				return
			}
		}
	}()
	for range 300 {
		if err := embedded.Check(path, nil); err != nil {
			t.Errorf("Check while the store is written: %v", err)
			break
		}
	}
	close(stop)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}
